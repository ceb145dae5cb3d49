import { ValueError } from '../../errors.js';
import type { Tensor } from '../../tensor/index.js';
import { Module } from '../module.js';
import { callInTurn } from '../release.js';

/**
 * Runs its children in order, each on the previous one's output. Children are named "0", "1", … as in PyTorch
 * (so keys read 'features.0.weight'), or by the names of a record, `new Sequential({ conv: …, relu: … })`, or of a
 * Map, whose order holds even for integer-like names (a record lists those first, by JavaScript's property order).
 */
export class Sequential extends Module {
  static override readonly forwardKeepsNothing = true;
  /** `seq[6] = new Linear(4096, 10)` replaces a child, as `model.classifier[6] = …` does in PyTorch. */
  [index: number]: Module;

  constructor(...modules: Module[]);
  constructor(named: Record<string, Module> | Map<string, Module>);
  constructor(...args: Module[] | [Record<string, Module> | Map<string, Module>]) {
    super();
    const first = args[0];
    let entries: [string, Module][];
    if (first instanceof Map) entries = [...first];
    else if (args.length === 1 && !(first instanceof Module)) entries = Object.entries(first);
    else entries = (args as Module[]).map((m, i): [string, Module] => [String(i), m]);
    for (const [name, module] of entries) {
      if (!(module instanceof Module)) throw new ValueError(`Sequential: child '${name}' is not a Module`);
      this.registerModule(name, module);
    }
  }

  get length(): number {
    return this.namedChildren().length;
  }

  /** The child at a position; negative counts from the end. */
  at(index: number): Module {
    const children = this.children();
    const child = children[index < 0 ? index + children.length : index];
    if (child === undefined)
      throw new ValueError(`Sequential: index ${index} is out of range for ${children.length} children`);
    return child;
  }

  /** Adds a child at the end, named by its position. */
  append(module: Module): this {
    this.registerModule(String(this.length), module);
    return this;
  }

  /** The layers, in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    return callInTurn(x, this.children());
  }
}
