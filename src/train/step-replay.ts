/**
 * Training steps replayed from a recording of their kernel calls (Backend.recorder): forward, loss, backward and
 * the optimizer's update run with no JavaScript between kernels once the shapes, the optimizer's settings and the
 * model's modes repeat. The first two steps with given settings run op by op, the third is recorded (unless the
 * second took long: LONGEST_RECORDED_MS), later ones replay it. The training state (parameters, buffers, the
 * optimizer's state) is both what a replay reads and what it writes: the backend updates it in place where the
 * recorded calls allow, and otherwise copies its current values into the memory the recorded step read them from.
 */
import type { Recorder, Recording, Storage } from '../backend/backend.js';
import type { Module } from '../nn/module.js';
import type { AnyOptimizer } from '../optim/index.js';
import { keep } from '../tensor/scope.js';
import { checkLabels } from '../tensor/ops/labels.js';
import { cast } from '../tensor/ops/arithmetic.js';
import type { Tensor } from '../tensor/tensor.js';

/** What a step returns: its loss (a scalar) and the logits the loss was computed from. */
export interface StepOutputs {
  loss: Tensor;
  logits: Tensor;
}

/** One training step on a batch: zero the gradients, forward, loss, backward, update. */
export type TrainingStep = (images: Tensor, labels: Tensor) => StepOutputs;

interface Recorded {
  recording: Recording;
  /** The outputs the recorded step wrote, rewritten by each replay; callers get copies. */
  outputs: StepOutputs;
  /** Each state tensor and the storage it held after the recorded step: the memory a replay writes. */
  state: [Tensor, Storage][];
}

/**
 * Steps that run op by op for longer are not recorded. A replay saves the JavaScript between kernels: a CIFAR
 * ResNet-20 step at batch 128 (about 500 kernels) took 204–210 ms op by op and 170–199 ms replayed here, so a step
 * of 500 ms or more would gain a few per cent at most, while its recording holds the step's memory (ResNet-50 at
 * 224, batch 32: 3,765 MiB peak against 3,407 op by op).
 */
const LONGEST_RECORDED_MS = 500;

/** Copies of a step's outputs, which the next replay rewrites. */
const copyOf = ({ loss, logits }: StepOutputs): StepOutputs => ({
  loss: cast(loss, loss.dtype),
  logits: cast(logits, logits.dtype),
});

/**
 * A training step that replays a recording of its kernels when it can (the native backend; a step that reads no
 * value, under no hook or observer), and runs op by op otherwise. `fit` uses one; a loop of your own can too:
 * `const replay = new StepReplay(model, optimizer, step)`, then `replay.run(images, labels)` for each batch, and
 * `replay.release()` before evaluating or when done, to free the memory the recording holds.
 */
export class StepReplay {
  #key = '';
  #plainRuns = 0;
  #failed = false;
  #numClasses = 0;
  #recorded: Recorded | null = null;

  /** `step` trains `model` with `optimizer`, whose state it must read and write through them alone. */
  constructor(
    private readonly model: Module,
    private readonly optimizer: AnyOptimizer,
    private readonly step: TrainingStep,
  ) {}

  /** The step on this batch: replayed, recorded, or run op by op. The caller owns what it returns. */
  run(images: Tensor, labels: Tensor): StepOutputs {
    const recorder = images.backend.recorder;
    const key = recorder === undefined ? null : this.keyOf(images, labels);
    if (recorder === undefined || key === null) return this.step(images, labels);
    if (key !== this.#key || this.stale()) this.release(key);
    if (this.#recorded !== null) return this.replay(this.#recorded, images, labels);
    if (this.#failed) return this.step(images, labels);
    // The first step makes the optimizer's state and the kernels' caches; the second shows what a step costs.
    if (++this.#plainRuns <= 2) return this.plainStep(images, labels);
    return this.record(recorder, images, labels);
  }

  /** Frees the recording and the memory it holds; the next steps start over. */
  release(key = ''): void {
    if (this.#recorded !== null) {
      this.#recorded.recording.release();
      this.#recorded.outputs.loss.dispose();
      this.#recorded.outputs.logits.dispose();
    }
    this.#recorded = null;
    [this.#key, this.#plainRuns, this.#failed] = [key, 0, false];
  }

  /**
   * What the recorded kernel calls depend on besides tensors' values: shapes, the optimizer's settings, the modules'
   * modes. Null where no recording applies: hooks or observers watch a module, or the inputs are not what a
   * classifier's step takes.
   */
  private keyOf(images: Tensor, labels: Tensor): string | null {
    const modules = this.model.modules();
    if (modules.some((m) => m.isObserved())) return null;
    if (images.dtype !== 'float32' || labels.dtype !== 'int32' || labels.rank !== 1) return null;
    if (labels.backend !== images.backend) return null;
    const modes = modules.map((m) => (m.training ? 't' : 'e')).join('');
    return `${images.shape.join('x')}|${labels.shape.join('x')}|${modes}|${this.optimizer.settingsKey()}`;
  }

  /** The state every step reads and writes, in a fixed order. */
  private state(): Tensor[] {
    return [...this.model.parameters(), ...this.model.buffers(), ...this.optimizer.stateTensors()];
  }

  /** Whether the state changed outside the recorded step (a tensor added, assigned, disposed). */
  private stale(): boolean {
    const recorded = this.#recorded;
    if (recorded === null) return false;
    const now = this.state();
    return (
      now.length !== recorded.state.length ||
      recorded.state.some(([t, storage], i) => now[i] !== t || t.disposed || t.storage !== storage)
    );
  }

  private plainStep(images: Tensor, labels: Tensor): StepOutputs {
    const started = performance.now();
    const outputs = this.step(images, labels);
    // A long step stays op by op: what a replay saves is too small a share of it to pay for the memory it holds.
    if (this.#plainRuns === 2 && performance.now() - started > LONGEST_RECORDED_MS) this.#failed = true;
    this.#numClasses = outputs.logits.shape[outputs.logits.rank - 1];
    return outputs;
  }

  private record(recorder: Recorder, images: Tensor, labels: Tensor): StepOutputs {
    // Checked now: a recorded step may read no value, and crossEntropy does not read labels it has checked.
    checkLabels('crossEntropy', labels, this.#numClasses);
    const before = this.state();
    let done!: StepOutputs; // record() runs the step before it returns
    const recording = recorder.record(
      [images.storage, labels.storage, ...before.map((t) => t.storage)],
      () => {
        done = this.step(images, labels);
        return [done.loss.storage, done.logits.storage];
      },
      () => [null, null, ...before.map((t) => t.storage)],
    );
    const after = this.state();
    const sameState = after.length === before.length && after.every((t, i) => t === before[i]);
    if (recording === null || !sameState) {
      recording?.release();
      this.#failed = true;
      return done;
    }
    keep(done.loss);
    keep(done.logits);
    this.#recorded = {
      recording,
      outputs: done,
      state: after.map((t) => [t, t.storage]),
    };
    return copyOf(done);
  }

  private replay(recorded: Recorded, images: Tensor, labels: Tensor): StepOutputs {
    checkLabels('crossEntropy', labels, this.#numClasses);
    const state = recorded.state.map(([, storage]) => storage);
    recorded.recording.replay([images.storage, labels.storage, ...state]);
    return copyOf(recorded.outputs);
  }
}
