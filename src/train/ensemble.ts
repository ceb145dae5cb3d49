/**
 * An ensemble of independently trained networks: their softmax outputs averaged, not their weights (averaging
 * weights of networks trained apart gives no useful network). Its output is log(mean softmax), which stands in
 * for logits anywhere: argmax, top-k, crossEntropy (the negative log of the averaged probability), softmax.
 */
import { ShapeError, ValueError, formatShape } from '../errors.js';
import { Module } from '../nn/module.js';
import { concat, scope, unsqueeze, type Tensor } from '../tensor/index.js';
import { logMeanSoftmax } from './tta.js';

export class Ensemble extends Module {
  /** Members are children '0', '1', …, so eval(), the state dict and parameters() reach them all. */
  constructor(members: readonly Module[]) {
    super();
    if (members.length === 0) throw new ValueError('Ensemble: give at least one member');
    members.forEach((member, i) => {
      if (!(member instanceof Module)) throw new ValueError(`Ensemble: member ${i} is not a Module`);
      this.registerModule(String(i), member);
    });
  }

  get members(): Module[] {
    return this.children();
  }

  forward(x: Tensor): Tensor {
    const outputs = this.members.map((member) => scope(() => member.call(x)));
    const first = outputs[0].shape;
    outputs.forEach((output, i) => {
      if (output.rank !== 2 || output.shape.join() !== first.join())
        throw new ShapeError(
          `Ensemble: member ${i} gives ${formatShape(output.shape)}, member 0 ${formatShape(first)}; members must give logits of the same [N, classes]`,
        );
    });
    return logMeanSoftmax(concat(outputs.map((output) => unsqueeze(output, 0))), 0);
  }
}
