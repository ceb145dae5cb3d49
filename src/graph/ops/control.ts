/**
 * Control flow: If runs one of two subgraphs, Loop runs its body a number of times known when it starts (its trip
 * count M). Both read values of the graphs around them by name (OpContext.subgraph). PyTorch exports
 * LocalResponseNorm with an If on its input's rank, and Range expands to a Loop.
 */
import { concat, unsqueeze, Tensor } from '../../tensor/index.js';
import { DataType, IntValues, type Value } from '../values.js';
import { checkValueSize, kindOf } from './budget.js';
import { input, malformed, scalarOf, unsupported, type OpContext, type OpFactory } from './context.js';

/**
 * The most iterations a Loop may run. ONNX writes a while loop as a trip count of INT64_MAX and a condition, so the
 * count alone cannot be refused; each iteration leaves objects on V8's heap (its values, and the autograd tape's
 * records when gradients are on), and 65,536 of them stay far below its limit, while a loop the file lets run 2^40
 * times would reach it (a fatal error) long before it ended. Loops in exported CNNs (Range, padding arithmetic) run
 * a few hundred times at most.
 */
export const MAX_LOOP_ITERATIONS = 2 ** 16;

/** A condition's truth: its one element is not zero. */
function truth(ctx: OpContext, v: Value, what: string): boolean {
  const size = v.shape.reduce((n, d) => n * d, 1);
  if (size !== 1) malformed(ctx, `${what} holds ${size} values, not one`);
  return scalarOf(v) !== 0;
}

const ifOp: OpFactory = (ctx) => {
  const constant = ctx.constantInput(0);
  if (constant !== undefined) {
    // A constant condition picks the branch at import; the other is never compiled.
    const taken = truth(ctx, constant, 'cond') ? 'then_branch' : 'else_branch';
    ctx.attrs.ignore(taken === 'then_branch' ? 'else_branch' : 'then_branch');
    const branch = ctx.subgraph(taken);
    return (inputs) => branch.run([], ctx.byName(inputs));
  }
  const thenBranch = ctx.subgraph('then_branch');
  const elseBranch = ctx.subgraph('else_branch');
  return (inputs) => {
    const branch = truth(ctx, input(ctx, inputs, 0, 'cond'), 'cond') ? thenBranch : elseBranch;
    return branch.run([], ctx.byName(inputs));
  };
};

/** Per-iteration values stacked along a new first axis (a Loop's scan outputs). */
function stack(ctx: OpContext, values: readonly Value[], what: string): Value {
  if (values.every((v) => v instanceof Tensor))
    return concat(
      values.map((v) => unsqueeze(v, 0)),
      0,
    );
  if (!values.every((v): v is IntValues => v instanceof IntValues))
    malformed(ctx, `${what} mixes floats and integers`);
  const shape = values[0].shape;
  if (values.some((v) => v.shape.join() !== shape.join()))
    malformed(ctx, `${what} changes shape between iterations`);
  return new IntValues(
    [values.length, ...shape],
    values.flatMap((v) => v.values),
    values[0].dataType,
  );
}

const loop: OpFactory = (ctx) => {
  const graph = ctx.attrs.graph('body');
  if (graph === undefined) return malformed(ctx, "attribute 'body' is missing");
  if ((ctx.node.input[0] ?? '') === '') {
    return unsupported(ctx, 'a Loop without a trip count (M)', 'Loop without trip count');
  }
  const carried = ctx.node.input.length - 2;
  const scanned = graph.output.length - 1 - carried;
  if (carried < 0 || graph.input.length !== 2 + carried || scanned < 0) {
    malformed(
      ctx,
      `its body takes ${graph.input.length} inputs and gives ${graph.output.length} outputs for ${carried} loop-carried values`,
    );
  }
  const body = ctx.subgraph('body');
  return (inputs) => {
    const tripCount = scalarOf(input(ctx, inputs, 0, 'M'));
    let cond = inputs[1] === null || inputs[1] === undefined ? true : truth(ctx, inputs[1], 'cond');
    let values = Array.from({ length: carried }, (_, k) => input(ctx, inputs, 2 + k, `v_initial ${k + 1}`));
    const around = ctx.byName(inputs);
    const scans: Value[][] = Array.from({ length: scanned }, () => []);
    for (let i = 0; i < tripCount && cond; i++) {
      if (i === MAX_LOOP_ITERATIONS) {
        malformed(
          ctx,
          `ran ${MAX_LOOP_ITERATIONS} iterations, the most a Loop may run (MAX_LOOP_ITERATIONS), of its trip count ${tripCount}`,
        );
      }
      const iteration = new IntValues([], [i], DataType.INT64);
      const outputs = body.run(
        [iteration, new IntValues([], [cond ? 1 : 0], DataType.BOOL), ...values],
        around,
      );
      cond = truth(ctx, outputs[0], "the body's condition");
      values = outputs.slice(1, 1 + carried);
      outputs.slice(1 + carried).forEach((v, k) => {
        // The stack the scan output becomes, checked as it grows: a trip count from the file bounds it.
        checkValueSize(ctx, [i + 1, ...v.shape], kindOf(v), `scan output ${k + 1} after ${i + 1} iterations`);
        scans[k].push(v);
      });
    }
    if (scanned > 0 && scans[0].length === 0) {
      unsupported(ctx, 'a scan output of a Loop that ran no iteration', 'Loop scan outputs of no iteration');
    }
    return [...values, ...scans.map((list, k) => stack(ctx, list, `scan output ${k + 1}`))];
  };
};

export const controlOps: Record<string, OpFactory> = {
  If: ifOp,
  Loop: loop,
};
