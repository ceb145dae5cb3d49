import { withBackend } from '../backend/registry.js';
import { sizeOf } from '../backend/shapes.js';
import { BackendError, ValueError, formatShape } from '../errors.js';
import { observeCalls, type Module, type ModuleCall } from '../nn/index.js';
import { checkOptions } from '../options.js';
import { noGrad, scope, zeros, type Tensor } from '../tensor/index.js';
import { withStandIns } from './stand-ins.js';

/** Activations are counted as float32, whatever a backend keeps. */
const BYTES_PER_VALUE = 4;

/**
 * One call of a module that has parameters of its own, does multiply-accumulates itself, or has no children; with
 * `depth`, one call at that depth (its whole subtree folded in) or a childless call above it.
 */
export interface SummaryRow {
  /** torchvision's dotted path ('layer1.0.conv1'); '' for the model itself. */
  path: string;
  type: string;
  /** Calls running around this one: 0 for the model itself. */
  depth: number;
  outputShape: number[];
  /**
   * The module's own parameters, not its children's (with `depth`, a row at that depth counts its subtree's); 0 on a
   * repeated call (see `repeated`).
   */
  trainableParameters: number;
  frozenParameters: number;
  /** Multiply-accumulates the module does itself in this call (with `depth`, its subtree's), batch included. */
  macs: number;
  /** A second or later call of a shared module: its parameters are listed at its first call only. */
  repeated: boolean;
}

/** Whole-model totals of a summary. */
export interface SummaryTotals {
  /** Every parameter of the model, each shared tensor once, whether or not the forward pass used it. */
  parameters: number;
  trainableParameters: number;
  frozenParameters: number;
  /** Multiply-accumulates of the whole forward pass for the given batch. */
  macs: number;
  /** Floating-point operations, 2 × MACs (one multiply and one add each). */
  flops: number;
}

/** Memory of one forward pass at the summary's input, in bytes. */
export interface SummaryMemory {
  /** The input batch, float32. */
  inputBytes: number;
  /**
   * Every distinct tensor a module call returned (a container passing on its last child's output counts once),
   * float32: what a training forward pass keeps for backward, roughly.
   */
  activationBytes: number;
  /** Parameters, float32. */
  parameterBytes: number;
  /** Buffers (BatchNorm's running statistics), four bytes a value. */
  bufferBytes: number;
}

/** A module holding parameters that the evaluation forward pass never called (GoogLeNet's auxiliary heads). */
export interface UncalledModule {
  path: string;
  type: string;
  parameters: number;
}

/** The plain-object form of a summary, as `convnets summary --json` prints it. */
export interface ModelSummaryJSON {
  model: string;
  inputShape: number[];
  outputShape: number[];
  rows: SummaryRow[];
  totals: SummaryTotals;
  memory: SummaryMemory;
  uncalled: UncalledModule[];
}

/** What summary() observed: per-layer rows, totals and memory. MACs and FLOPs are separate, named figures. */
export class ModelSummary implements ModelSummaryJSON {
  readonly model: string;
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly rows: SummaryRow[];
  readonly totals: SummaryTotals;
  readonly memory: SummaryMemory;
  readonly uncalled: UncalledModule[];

  constructor(fields: ModelSummaryJSON) {
    this.model = fields.model;
    this.inputShape = fields.inputShape;
    this.outputShape = fields.outputShape;
    this.rows = fields.rows;
    this.totals = fields.totals;
    this.memory = fields.memory;
    this.uncalled = fields.uncalled;
  }

  /** The summary as plain JSON (what `convnets summary --json` prints). */
  toJSON(): ModelSummaryJSON {
    return {
      model: this.model,
      inputShape: [...this.inputShape],
      outputShape: [...this.outputShape],
      rows: this.rows.map((row) => ({ ...row, outputShape: [...row.outputShape] })),
      totals: { ...this.totals },
      memory: { ...this.memory },
      uncalled: this.uncalled.map((m) => ({ ...m })),
    };
  }
}

/** [C, H, W] gets a batch of 1 in front; any other shape is taken as given, batch first. */
export function batchedInputShape(inputShape: readonly number[]): number[] {
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ValueError(`summary: input shape ${formatShape(inputShape)} must be positive integers`);
  }
  return inputShape.length === 3 ? [1, ...inputShape] : [...inputShape];
}

function countOwn(module: Module): { trainable: number; frozen: number } {
  let trainable = 0;
  let frozen = 0;
  for (const [, p] of module.namedParameters({ recurse: false })) {
    if (p.requiresGrad) trainable += p.size;
    else frozen += p.size;
  }
  return { trainable, frozen };
}

/** What `summary` lists. */
export interface SummaryOptions {
  /**
   * Rows for module calls down to this depth only (1: the model's children), each call at the depth counting the
   * parameters and MACs of every call inside it, as torchinfo's `depth` does: a network's modules with their output
   * shapes (Inception-v4's stem, each Inception-A, …). Default: every layer.
   */
  depth?: number;
}

interface Observed {
  call: Omit<ModuleCall, 'input' | 'output'>;
  outputShape: number[];
  macs: number;
}

/**
 * Runs the model once in evaluation mode on the meta backend, which computes shapes and no values, and reports
 * every layer's output shape, parameters and multiply-accumulates (MACs; FLOPs = 2 × MACs), with totals and
 * activation memory. `inputShape` is [C, H, W] (batch 1) or [N, C, H, W]. The model may live on any backend:
 * its parameters and buffers are stood in for by shape-only tensors during the run and put back afterwards,
 * never read, and every module's training flag is restored, so the model is left exactly as it was.
 */
export function summary(
  model: Module,
  inputShape: readonly number[],
  options: SummaryOptions = {},
): ModelSummary {
  checkOptions('summary', options, { depth: true });
  const { depth } = options;
  if (depth !== undefined && !(Number.isInteger(depth) && depth >= 1))
    throw new ValueError(`summary: depth must be a positive integer, got ${depth}`);
  const shape = batchedInputShape(inputShape);
  const observed: Observed[] = [];
  const outputs = new Set<Tensor>();
  let activationValues = 0;
  let outputShape: number[] = [];
  const modes = model.modules().map((m): [Module, boolean] => [m, m.training]);
  try {
    withBackend('meta', () =>
      withStandIns(model, () =>
        noGrad(() =>
          scope(() => {
            // The flags, not eval(), which would also change the mode a frozen module takes back when unfrozen.
            for (const [module] of modes) module.training = false;
            const input = zeros(shape);
            const stop = observeCalls(({ input: x, output, ...call }) => {
              observed.push({
                call,
                outputShape: [...output.shape],
                macs: call.module.macs(x.shape, output.shape),
              });
              if (output !== input && !outputs.has(output)) {
                outputs.add(output);
                activationValues += output.size;
              }
            });
            try {
              outputShape = [...model.call(input).shape];
            } finally {
              stop();
            }
          }),
        ),
      ),
    );
  } catch (error) {
    if (error instanceof BackendError && /different backends/.test(error.message)) {
      error.message +=
        ' (summary stands in for registered parameters and buffers only: a layer holding another tensor ' +
        'must register it as a buffer)';
    }
    throw error;
  } finally {
    for (const [module, training] of modes) module.training = training;
    outputs.clear();
  }
  observed.sort((a, b) => a.call.index - b.call.index);
  const rows = depth === undefined ? layerRows(observed) : foldedRows(observed, depth);
  return assemble(model, shape, outputShape, observed, rows, activationValues);
}

function row(call: Observed['call'], outputShape: number[], repeated: boolean, macs: number): SummaryRow {
  const counts = repeated ? { trainable: 0, frozen: 0 } : countOwn(call.module);
  return {
    path: call.path,
    type: call.module.typeName,
    depth: call.depth,
    outputShape,
    trainableParameters: counts.trainable,
    frozenParameters: counts.frozen,
    macs,
    repeated,
  };
}

/** Whether a call costs anything itself: parameters of its module's own, or MACs of its own. */
function hasOwnCost(module: Module, macs: number): boolean {
  const counts = countOwn(module);
  return counts.trainable + counts.frozen > 0 || macs > 0;
}

/** A row per call that has parameters of its own, does MACs itself, or has no children. */
function layerRows(observed: Observed[]): SummaryRow[] {
  const seen = new Set<Module>();
  const rows: SummaryRow[] = [];
  for (const { call, outputShape, macs } of observed) {
    const repeated = seen.has(call.module);
    seen.add(call.module);
    const isLeaf = call.module.children().length === 0;
    if (isLeaf || hasOwnCost(call.module, macs)) rows.push(row(call, outputShape, repeated, macs));
  }
  return rows;
}

/**
 * A row per call at `depth`, counting every call inside it (the calls after it in start order that run deeper),
 * and per childless call above it. Each module's parameters count at its first call only.
 */
function foldedRows(observed: Observed[], depth: number): SummaryRow[] {
  const seen = new Set<Module>();
  const rows: SummaryRow[] = [];
  for (let i = 0; i < observed.length; i++) {
    const { call, outputShape, macs } = observed[i];
    if (call.depth > depth) continue;
    let end = i + 1;
    while (end < observed.length && observed[end].call.depth > call.depth) end++;
    const isLeaf = end === i + 1;
    if (call.depth < depth && !isLeaf) {
      if (hasOwnCost(call.module, macs)) rows.push(row(call, outputShape, seen.has(call.module), macs));
      seen.add(call.module);
      continue;
    }
    const folded = row(call, outputShape, seen.has(call.module), macs);
    seen.add(call.module);
    for (const inner of observed.slice(i + 1, end)) {
      folded.macs += inner.macs;
      if (seen.has(inner.call.module)) continue;
      seen.add(inner.call.module);
      const counts = countOwn(inner.call.module);
      folded.trainableParameters += counts.trainable;
      folded.frozenParameters += counts.frozen;
    }
    rows.push(folded);
  }
  return rows;
}

function assemble(
  model: Module,
  inputShape: number[],
  outputShape: number[],
  observed: Observed[],
  rows: SummaryRow[],
  activationValues: number,
): ModelSummary {
  const seen = new Set(observed.map(({ call }) => call.module));
  const macs = observed.reduce((n, o) => n + o.macs, 0);
  const uncalled = model
    .namedModules()
    .filter(([, module]) => !seen.has(module))
    .map(([path, module]) => {
      const counts = countOwn(module);
      return { path, type: module.typeName, parameters: counts.trainable + counts.frozen };
    })
    .filter((m) => m.parameters > 0);
  const parameters = model.parameters();
  const trainable = parameters.filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0);
  const total = parameters.reduce((n, p) => n + p.size, 0);
  return new ModelSummary({
    model: model.typeName,
    inputShape,
    outputShape,
    rows,
    totals: {
      parameters: total,
      trainableParameters: trainable,
      frozenParameters: total - trainable,
      macs,
      flops: 2 * macs,
    },
    memory: {
      inputBytes: sizeOf(inputShape) * BYTES_PER_VALUE,
      activationBytes: activationValues * BYTES_PER_VALUE,
      parameterBytes: total * BYTES_PER_VALUE,
      bufferBytes: model.buffers().reduce((n, b) => n + b.size, 0) * BYTES_PER_VALUE,
    },
    uncalled,
  });
}
