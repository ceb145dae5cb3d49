/**
 * The pieces of transfer learning: find a network's classifier head, replace it for new classes, freeze what lies
 * before a layer, unfreeze the next stage, and give the unfrozen layers learning rates that grow towards the head
 * (discriminative rates, as fastai's fine_tune). Layers are named by dotted paths, the state-dict keys' prefixes.
 */
import { ValueError } from '../errors.js';
import { Linear, type Module } from '../nn/index.js';
import type { Generator, Tensor } from '../tensor/index.js';
import { checkOptions } from '../options.js';

/** What to freeze: everything but the head, nothing, or every module up to and including a layer path. */
export type FreezeSpec = 'all-but-head' | 'none' | (string & {});

/**
 * The path of the classifier head: `declared` (a model's ModelInfo.head) when given, else the last Linear module
 * in registration order, which is where torchvision's builders put their classifier ('fc', 'classifier.6').
 */
export function headPath(model: Module, declared?: string): string {
  if (declared !== undefined) {
    if (!(model.get(declared) instanceof Linear))
      throw new ValueError(`the head '${declared}' is a ${model.get(declared).typeName}, not a Linear layer`);
    return declared;
  }
  const linears = model.namedModules().filter(([, module]) => module instanceof Linear);
  if (linears.length === 0)
    throw new ValueError(`${model.typeName} has no Linear layer to serve as its head; name the head's path`);
  return linears[linears.length - 1][0];
}

function splitPath(path: string): { parent: string; name: string } {
  const cut = path.lastIndexOf('.');
  return { parent: cut < 0 ? '' : path.slice(0, cut), name: path.slice(cut + 1) };
}

/**
 * Replaces the Linear layer at `path` with a new one for `numClasses` outputs, initialised as PyTorch's
 * nn.Linear is (uniform in ±1/√fan-in, weights and bias); returns it. Its parameters are trainable.
 */
export function replaceHead(
  model: Module,
  numClasses: number,
  options: { path?: string; generator?: Generator } = {},
): Linear {
  checkOptions('train.replaceHead', options, { path: true, generator: true });
  const path = options.path ?? headPath(model);
  const old = model.get(path);
  if (!(old instanceof Linear))
    throw new ValueError(`the head '${path}' is a ${old.typeName}, not a Linear layer`);
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new ValueError(`the new head needs a positive integer number of classes, got ${numClasses}`);
  const head = new Linear(old.inFeatures, numClasses, {
    bias: old.bias !== null,
    generator: options.generator,
  });
  const { parent, name } = splitPath(path);
  model.get(parent).registerModule(name, head);
  if (model.get(parent).training === false) head.eval();
  return head;
}

/**
 * Freezes every module that runs before the module at `path` (its earlier siblings, and those of each of its
 * ancestors) and, when `inclusive`, that module too; returns the paths frozen, in order. The network's root and the
 * ancestors of `path` are never frozen themselves, so the rest keeps training.
 */
export function freezeBefore(model: Module, path: string, inclusive: boolean): string[] {
  model.get(path); // an unknown path is an error naming the children there are
  const names = path.split('.');
  const frozen: string[] = [];
  let module = model;
  let prefix = '';
  for (const [depth, name] of names.entries()) {
    for (const [childName, child] of module.namedChildren()) {
      const childPath = prefix === '' ? childName : `${prefix}.${childName}`;
      const last = depth === names.length - 1;
      if (childName === name) {
        if (last && inclusive) {
          child.freeze();
          frozen.push(childPath);
        }
        module = child;
        break;
      }
      child.freeze();
      frozen.push(childPath);
    }
    prefix = prefix === '' ? name : `${prefix}.${name}`;
  }
  return frozen;
}

/**
 * Applies a FreezeSpec after unfreezing everything: 'all-but-head' freezes all that runs before the head, a path
 * freezes up to and including that module, 'none' nothing. Returns the paths frozen.
 */
export function freezeModel(model: Module, spec: FreezeSpec, options: { head?: string } = {}): string[] {
  checkOptions('train.freezeModel', options, { head: true });
  model.unfreeze();
  if (spec === 'none') return [];
  if (spec === 'all-but-head') return freezeBefore(model, headPath(model, options.head), false);
  const head = headPath(model, options.head);
  if (spec === head || head.startsWith(`${spec}.`))
    throw new ValueError(`freezing up to '${spec}' would freeze the head '${head}' too: nothing would train`);
  return freezeBefore(model, spec, true);
}

/** Whether every parameter outside the head is frozen, the condition for training the head on cached features. */
export function onlyHeadTrains(model: Module, head: string): boolean {
  const headParameters = new Set(model.get(head).parameters());
  return model.parameters().every((p) => headParameters.has(p) || !p.requiresGrad);
}

/**
 * Unfreezes one more stage: the last top-level module that holds frozen parameters (ResNet's layer4 after
 * 'all-but-head'), or everything with 'all'. Returns the paths unfrozen.
 */
export function unfreezeMore(model: Module, how: 'next' | 'all'): string[] {
  const frozen = model.namedChildren().filter(([, child]) => child.parameters().some((p) => !p.requiresGrad));
  if (frozen.length === 0) return [];
  const chosen = how === 'all' ? frozen : [frozen[frozen.length - 1]];
  for (const [, child] of chosen) child.unfreeze();
  if (how === 'all') model.unfreeze();
  return chosen.map(([name]) => name);
}

/** An optimizer param group: tensors with their own learning rate. */
export interface LearningRateGroup {
  params: Tensor[];
  lr: number;
  /** The top-level modules whose parameters these are. */
  modules: string[];
}

/**
 * Discriminative learning rates: the trainable parameters of each top-level module with any, in order, each group
 * a constant factor above the one before, from `lr / lrRatio` for the lowest to `lr` for the head (fastai's
 * fine_tune spreads slice(lr / 100, lr) the same way over its layer groups).
 */
export function discriminativeGroups(model: Module, lr: number, lrRatio = 100): LearningRateGroup[] {
  if (!(lr > 0) || !(lrRatio >= 1))
    throw new ValueError(`discriminative rates need lr > 0 and a ratio ≥ 1, got lr ${lr}, ratio ${lrRatio}`);
  const groups = model
    .namedChildren()
    .map(([name, child]) => ({ name, params: child.parameters().filter((p) => p.requiresGrad) }))
    .filter((group) => group.params.length > 0);
  const own = model.parameters({ recurse: false }).filter((p) => p.requiresGrad);
  if (groups.length === 0) throw new ValueError(`${model.typeName} has no trainable parameters`);
  if (own.length > 0) groups[groups.length - 1].params.push(...own);
  const steps = Math.max(groups.length - 1, 1);
  return groups.map((group, i) => ({
    params: group.params,
    lr: (lr / lrRatio) * lrRatio ** (groups.length === 1 ? 1 : i / steps),
    modules: [group.name],
  }));
}
