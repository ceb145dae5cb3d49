/**
 * Auxiliary outputs: classifiers on intermediate features whose losses join the main one in training (GoogLeNet's
 * two heads, weighted 0.3; deep supervision). A module offers them through this protocol, so training code handles
 * every model that has them without knowing any.
 */
import { add, mul, type Tensor } from '../tensor/index.js';
import type { Module } from './module.js';

/** One auxiliary classifier's logits, and the weight of its loss in the training loss. */
export interface AuxiliaryOutput {
  /** GoogLeNet's 'aux1' and 'aux2', the prefixes of their heads' parameters. */
  readonly name: string;
  readonly logits: Tensor;
  readonly lossWeight: number;
}

/** What callWithAuxiliary returns. */
export interface OutputsWithAuxiliary {
  readonly logits: Tensor;
  /** Empty in evaluation mode: auxiliary heads serve training only. */
  readonly auxiliary: readonly AuxiliaryOutput[];
}

/** A module with auxiliary outputs: call() gives its main logits, callWithAuxiliary() those and the auxiliary ones. */
export interface WithAuxiliaryOutputs {
  /** The main logits and, in training mode, each auxiliary head's logits and loss weight. */
  callWithAuxiliary(input: Tensor): OutputsWithAuxiliary;
}

/** Whether a module has auxiliary outputs (GoogLeNet's heads), which training adds to the loss. */
export function hasAuxiliaryOutputs(module: Module): module is Module & WithAuxiliaryOutputs {
  return typeof (module as Partial<WithAuxiliaryOutputs>).callWithAuxiliary === 'function';
}

/** The main logits of `module` for `input`, and its auxiliary outputs if it has any. */
export function callWithAuxiliary(module: Module, input: Tensor): OutputsWithAuxiliary {
  if (hasAuxiliaryOutputs(module)) return module.callWithAuxiliary(input);
  return { logits: module.call(input), auxiliary: [] };
}

/** lossFn of the main logits plus, for each auxiliary output, its weight × lossFn of its logits. */
export function lossWithAuxiliary(
  outputs: OutputsWithAuxiliary,
  labels: Tensor,
  lossFn: (logits: Tensor, labels: Tensor) => Tensor,
): Tensor {
  let loss = lossFn(outputs.logits, labels);
  for (const output of outputs.auxiliary)
    loss = add(loss, mul(lossFn(output.logits, labels), output.lossWeight));
  return loss;
}
