/**
 * Inference runs of an OnnxModel replayed from a recording of their kernel calls (Backend.recorder): the first
 * run with given input shapes runs the graph node by node (and fills the backend's caches), the second is
 * recorded, later ones replay it on their inputs, with no JavaScript per node.
 */
import type { Backend, Recorder, Recording, Storage } from '../backend/backend.js';
import { isGradEnabled } from '../tensor/autograd.js';
import { cast } from '../tensor/ops/arithmetic.js';
import { keep } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import type { Value } from './values.js';

type RunGraph = (inputs: readonly Value[]) => Map<string, Value>;

interface Recorded {
  recording: Recording;
  /** The inputs the recorded run read: each replay reads its own inputs instead. */
  staged: Tensor[];
  /** The outputs it wrote, by graph output name: copied out after each replay. */
  outputs: Map<string, Tensor>;
  /** The graph's constants and the storage each held when recorded: a replay reads those. */
  constants: [Tensor, Storage][];
}

/** The backend's recorder when a run may be recorded: no gradients, every input a float32 tensor on it. */
function recorderFor(inputs: readonly Value[]): [Backend, Recorder] | null {
  if (isGradEnabled() || inputs.length === 0) return null;
  const first = inputs[0];
  const recorder = first instanceof Tensor ? first.backend.recorder : undefined;
  if (recorder === undefined) return null;
  const { backend } = first as Tensor;
  const fit = inputs.every((v) => v instanceof Tensor && v.dtype === 'float32' && v.backend === backend);
  return fit ? [backend, recorder] : null;
}

export class GraphReplay {
  #key = '';
  #backend: Backend | null = null;
  #plainRuns = 0;
  #failed = false;
  #recorded: Recorded | null = null;

  constructor(
    private readonly outputNames: readonly string[],
    private readonly constants: () => Iterable<Value>,
  ) {}

  /** The graph's outputs for `inputs`: replayed, recorded, or from `runGraph` node by node. */
  run(inputs: readonly Value[], runGraph: RunGraph): Map<string, Value> {
    const found = recorderFor(inputs);
    if (found === null) return runGraph(inputs);
    const [backend, recorder] = found;
    const key = inputs.map((v) => (v as Tensor).shape.join('x')).join(',');
    const stale = this.#recorded !== null && !unchanged(this.#recorded.constants);
    if (key !== this.#key || backend !== this.#backend || stale) this.release(key, backend);
    if (this.#recorded !== null) return this.replay(backend, this.#recorded, inputs as Tensor[]);
    if (this.#failed || this.#plainRuns++ === 0) return runGraph(inputs);
    return this.record(backend, recorder, inputs as Tensor[], runGraph);
  }

  /** Frees the recording and the tensors it keeps; the next runs (with inputs `key` on `backend`) start over. */
  release(key = '', backend: Backend | null = null): void {
    if (this.#recorded !== null) {
      this.#recorded.recording.release();
      for (const t of [...this.#recorded.staged, ...this.#recorded.outputs.values()]) t.dispose();
    }
    this.#recorded = null;
    [this.#key, this.#backend, this.#plainRuns, this.#failed] = [key, backend, 0, false];
  }

  private record(
    backend: Backend,
    recorder: Recorder,
    inputs: Tensor[],
    runGraph: RunGraph,
  ): Map<string, Value> {
    const staged = inputs.map((x) => keep(cast(x, x.dtype)));
    let results = new Map<string, Value>();
    const outputs = new Map<string, Tensor>();
    const recording = recorder.record(
      staged.map((t) => t.storage),
      () => {
        results = runGraph(staged);
        for (const name of this.outputNames) {
          const v = results.get(name);
          if (v instanceof Tensor && v.backend === backend && !staged.includes(v)) outputs.set(name, v);
        }
        return [...outputs.values()].map((t) => t.storage);
      },
    );
    const constants = [...this.constants()].filter((v): v is Tensor => v instanceof Tensor);
    // An output that is a constant passes through unchanged: nothing to replay, and release() would dispose it.
    const replayable =
      recording !== null &&
      outputs.size === this.outputNames.length &&
      ![...outputs.values()].some((t) => constants.includes(t));
    if (!replayable) {
      recording?.release();
      this.#failed = true;
      // A graph may pass its input straight through: that copy is an output now.
      const returned = new Set(results.values());
      for (const t of staged) if (!returned.has(t)) t.dispose();
      return results;
    }
    for (const t of outputs.values()) keep(t);
    this.#recorded = { recording, staged, outputs, constants: constants.map((c) => [c, c.storage]) };
    return this.copyOutputs(backend, this.#recorded);
  }

  private replay(backend: Backend, recorded: Recorded, inputs: Tensor[]): Map<string, Value> {
    recorded.recording.replay(inputs.map((t) => t.storage));
    return this.copyOutputs(backend, recorded);
  }

  /** Copies, since the next replay overwrites the recorded outputs. */
  private copyOutputs(backend: Backend, recorded: Recorded): Map<string, Value> {
    return new Map([...recorded.outputs].map(([name, t]) => [name, cast(t, t.dtype)]));
  }
}

/** Whether every constant still holds the storage it held when recorded (assign() swaps in a new one). */
const unchanged = (constants: readonly [Tensor, Storage][]): boolean =>
  constants.every(([t, storage]) => !t.disposed && t.storage === storage);
