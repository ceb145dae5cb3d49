/**
 * Classification metrics accumulated batch by batch from logits read back once per batch: top-k counts, loss
 * sums, and a confusion matrix (rows: true class, columns: predicted class), as sklearn's confusion_matrix.
 */
import { ShapeError } from '../errors.js';

/** What evaluate measures. */
export interface EvaluationResult {
  /** Mean loss per sample. */
  loss: number;
  top1: number;
  /** Top-5 accuracy (top-k with k = min(5, classes)). */
  top5: number;
  /** Accuracy of each true class; NaN for a class with no sample. */
  perClass: number[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  samples: number;
}

/** The classes ranked above `label`'s score, ties counted against the label only when they come first. */
function rankOfLabel(scores: ArrayLike<number>, offset: number, classes: number, label: number): number {
  const target = scores[offset + label];
  let rank = 0;
  for (let c = 0; c < classes; c++) {
    const score = scores[offset + c];
    if (score > target || (score === target && c < label)) rank++;
  }
  return rank;
}

/** Index of the largest score; the first on ties, as torch.argmax. */
function argmax(scores: ArrayLike<number>, offset: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (scores[offset + c] > scores[offset + best]) best = c;
  return best;
}

/** Accumulates loss, top-1/top-5 counts and a confusion matrix batch by batch. */
export class ClassificationMetrics {
  readonly confusion: number[][];
  private lossSum = 0;
  private correct1 = 0;
  private correct5 = 0;
  private count = 0;

  constructor(readonly numClasses: number) {
    this.confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  }

  /** Adds a batch: logits [N, classes] row-major, labels [N], and the batch's mean loss. */
  update(logits: ArrayLike<number>, labels: ArrayLike<number>, meanLoss: number): void {
    const n = labels.length;
    const classes = this.numClasses;
    if (logits.length !== n * classes) {
      throw new ShapeError(`metrics: ${logits.length} logits for ${n} labels of ${classes} classes`);
    }
    const k = Math.min(5, classes);
    for (let i = 0; i < n; i++) {
      const label = labels[i];
      if (!Number.isInteger(label) || label < 0 || label >= classes) {
        throw new ShapeError(`metrics: label ${label} is outside [0, ${classes})`);
      }
      const rank = rankOfLabel(logits, i * classes, classes, label);
      if (rank === 0) this.correct1++;
      if (rank < k) this.correct5++;
      this.confusion[label][argmax(logits, i * classes, classes)]++;
    }
    this.lossSum += meanLoss * n;
    this.count += n;
  }

  get samples(): number {
    return this.count;
  }

  get loss(): number {
    return this.lossSum / this.count;
  }

  get top1(): number {
    return this.correct1 / this.count;
  }

  get top5(): number {
    return this.correct5 / this.count;
  }

  /** The metrics of everything added so far. */
  result(): EvaluationResult {
    const perClass = this.confusion.map((row, c) => {
      const total = row.reduce((a, b) => a + b, 0);
      return total === 0 ? NaN : row[c] / total;
    });
    return {
      loss: this.loss,
      top1: this.top1,
      top5: this.top5,
      perClass,
      confusion: this.confusion.map((row) => [...row]),
      samples: this.count,
    };
  }
}

/** The confusion matrix as aligned text, rows true classes, columns predictions. */
export function formatConfusion(
  confusion: readonly (readonly number[])[],
  classNames?: readonly string[],
): string {
  const names = confusion.map((_, c) => classNames?.[c] ?? String(c));
  const nameWidth = Math.max(11, ...names.map((n) => n.length));
  const cell = Math.max(4, ...confusion.flat().map((v) => String(v).length)) + 1;
  const header = `${'true \\ pred'.padEnd(nameWidth)} ${confusion.map((_, c) => String(c).padStart(cell)).join('')}`;
  const rows = confusion.map(
    (row, c) => `${names[c].padEnd(nameWidth)} ${row.map((v) => String(v).padStart(cell)).join('')}`,
  );
  return [header, ...rows].join('\n');
}
