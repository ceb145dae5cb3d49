/**
 * Progress of fit: on a terminal one line rewritten in place (bar, loss, accuracy, images/s, ETA); elsewhere
 * (a log file, CI) plain lines every `logEvery` steps and one per epoch, so a log stays readable.
 */
import type { EpochRecord } from './history.js';
import { checkOptions } from '../options.js';

/** Where training stands after a step. */
export interface StepInfo {
  /** 1-based epoch and step. */
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Running means over the epoch so far. */
  loss: number;
  top1: number;
  images: number;
  seconds: number;
}

/** Options of ProgressDisplay. */
export interface ProgressOptions {
  /** Defaults to process.stderr's isTTY. */
  tty?: boolean;
  /** Plain lines every this many steps when not a TTY (default 100; 0: epoch lines only). */
  logEvery?: number;
  /** Where lines go; default process.stderr. */
  write?: (text: string) => void;
  /** Columns of the terminal line; default the stream's width, or 100. */
  columns?: number;
}

/** Seconds as 'm:ss' ('3:05'), or 'XhYYm' from an hour on; '?' when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const minutes = Math.floor(s / 60);
  return minutes >= 60
    ? `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`
    : `${minutes}:${String(s % 60).padStart(2, '0')}`;
}

const percent = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

/** One line summing up an epoch: losses, accuracies, lr, time and speed. */
export function formatEpoch(record: EpochRecord, epochs: number): string {
  const validation =
    record.valLoss === null
      ? ''
      : ` | val loss ${record.valLoss.toFixed(4)} top-1 ${percent(record.valTop1)} top-5 ${percent(record.valTop5)}`;
  return (
    `epoch ${record.epoch}/${epochs} | loss ${record.trainLoss.toFixed(4)} top-1 ${percent(record.trainTop1)}` +
    `${validation} | lr ${record.lr.toPrecision(3)} | ${record.seconds.toFixed(1)} s, ` +
    `${Math.round(record.imagesPerSecond)} images/s`
  );
}

/**
 * Training progress: a bar redrawn in place on a terminal (a line every `logEvery` steps otherwise), then a line
 * per epoch.
 */
export class ProgressDisplay {
  readonly tty: boolean;
  private readonly logEvery: number;
  private readonly write: (text: string) => void;
  private readonly columns: number;
  private lineOpen = false;

  constructor(options: ProgressOptions = {}) {
    checkOptions('train.ProgressDisplay', options, { tty: true, logEvery: true, write: true, columns: true });
    this.tty = options.tty ?? process.stderr.isTTY === true;
    this.logEvery = options.logEvery ?? 100;
    this.write = options.write ?? ((text) => process.stderr.write(text));
    this.columns = options.columns ?? (process.stderr.columns || 100);
  }

  /** Shows a step's progress: redrawn in place on a terminal, every `logEvery` steps otherwise. */
  step(info: StepInfo): void {
    const rate = info.images / Math.max(info.seconds, 1e-9);
    const stats = `loss ${info.loss.toFixed(4)} top-1 ${percent(info.top1)} ${Math.round(rate)} img/s`;
    if (this.tty) {
      const eta = ((info.steps - info.step) * info.seconds) / info.step;
      const head = `epoch ${info.epoch}/${info.epochs} ${info.step}/${info.steps}`;
      const tail = `${stats} ETA ${formatDuration(eta)}`;
      const width = Math.max(10, Math.min(40, this.columns - head.length - tail.length - 6));
      const filled = Math.round((width * info.step) / info.steps);
      const line = `${head} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${tail}`;
      this.write(`\r${line.slice(0, this.columns - 1).padEnd(this.columns - 1)}`);
      this.lineOpen = true;
    } else if (this.logEvery > 0 && info.step % this.logEvery === 0 && info.step < info.steps) {
      this.write(`epoch ${info.epoch}/${info.epochs} step ${info.step}/${info.steps} | ${stats}\n`);
    }
  }

  /** Prints the line of a finished epoch. */
  epoch(record: EpochRecord, epochs: number): void {
    this.message(formatEpoch(record, epochs));
  }

  /** A whole line, closing the in-place line first. */
  message(text: string): void {
    if (this.lineOpen) this.write('\n');
    this.lineOpen = false;
    this.write(`${text}\n`);
  }
}
