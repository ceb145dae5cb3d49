import { ValueError, formatShape } from '../errors.js';
import { Tensor, keep, noGrad, scope } from '../tensor/index.js';
import { checkNumber } from './validate.js';
import { checkOptions, type OptionKeys } from '../options.js';

/** Options every optimizer has; each param group carries its own copy. */
export interface OptimizerOptions {
  lr: number;
}

/** Tensors with options overriding the optimizer's defaults, as PyTorch's `{'params': ..., 'lr': ...}` dicts. */
export type ParamGroupInput<O> = { params: Iterable<Tensor> } & Partial<O>;

/** What an optimizer is built from: parameters, or param groups. */
export type Params<O> = Iterable<Tensor> | Iterable<ParamGroupInput<O>>;

/** A param group as the optimizer keeps it: its options filled in from the defaults. */
export type ParamGroup<O> = O & {
  readonly params: readonly Tensor[];
  /** The lr a learning-rate schedule started from (PyTorch's `initial_lr`); set by the first schedule. */
  initialLr?: number;
};

/** Per-parameter state: tensors (momentum buffers, moment estimates) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

/**
 * JSON-able apart from the state's tensors. Parameters are numbered in order across groups, as in PyTorch's
 * `state_dict()`. The tensors are the optimizer's live state, not copies.
 */
export interface OptimizerStateDict {
  state: Record<string, ParamState>;
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

export interface OptimizerSpec {
  /** Used in error messages: 'sgd', 'adam'. */
  name: string;
  /** Keys every stored state has; loadStateDict checks them. */
  stateKeys: readonly string[];
}

/** The base of every optimizer: param groups with their options, per-parameter state, step() and zeroGrad(). */
export abstract class Optimizer<
  O extends OptimizerOptions = OptimizerOptions,
  S extends ParamState = ParamState,
> {
  readonly paramGroups: ParamGroup<O>[] = [];
  protected readonly state = new Map<Tensor, S>();

  constructor(
    protected readonly spec: OptimizerSpec,
    params: Params<O>,
    readonly defaults: Readonly<O>,
  ) {
    if (params instanceof Tensor || typeof (params as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new ValueError(`${spec.name}: params must be an iterable of tensors or of param groups`);
    }
    const items = [...params];
    if (items.length === 0) throw new ValueError(`${spec.name}: got an empty parameter list`);
    if (items.every((item) => item instanceof Tensor))
      this.addParamGroup({ params: items as Tensor[] } as unknown as ParamGroupInput<O>);
    else for (const group of items as ParamGroupInput<O>[]) this.addParamGroup(group);
  }

  /** Checks one group's options; `owner` names the optimizer and group for the message. */
  protected abstract checkOptions(options: O, owner: string): void;

  /**
   * Updates `param` in place from `grad` and returns its new state. Runs under noGrad inside a scope: tensors it
   * makes are released unless they are in the returned state.
   */
  protected abstract update(param: Tensor, grad: Tensor, options: O, state: S | undefined): S | undefined;

  /** Adds tensors with their own options, as PyTorch's `add_param_group` (e.g. when unfreezing layers). */
  addParamGroup(input: ParamGroupInput<O>): void {
    const owner = `${this.spec.name} (param group ${this.paramGroups.length})`;
    if (input instanceof Tensor || typeof input !== 'object' || input === null || !('params' in input)) {
      throw new ValueError(`${owner}: a param group must be an object with params, got ${String(input)}`);
    }
    // The defaults hold every option the optimizer has (its constructor checked the user's), so they are the list.
    const known = Object.fromEntries(['params', ...Object.keys(this.defaults)].map((key) => [key, true]));
    checkOptions(owner, input, known as OptionKeys<ParamGroupInput<O>>);
    const params = input.params instanceof Tensor ? [input.params] : [...input.params];
    if (params.length === 0) throw new ValueError(`${owner}: params is empty`);
    const seen = new Set(this.paramGroups.flatMap((group) => group.params));
    for (const param of params) {
      if (!(param instanceof Tensor))
        throw new ValueError(`${owner}: params must be tensors, got ${String(param)}`);
      if (param.dtype !== 'float32')
        throw new ValueError(`${owner}: cannot optimize a tensor of dtype ${param.dtype}`);
      if (param.node !== null)
        throw new ValueError(`${owner}: cannot optimize a tensor computed by an op (not a leaf)`);
      if (seen.has(param)) throw new ValueError(`${owner}: a parameter appears more than once`);
      seen.add(param);
    }
    const group = { ...this.defaults, ...input, params } as ParamGroup<O>;
    this.checkOptions(group, owner);
    this.paramGroups.push(group);
  }

  /** Updates every parameter that has a gradient; parameters whose grad is null are skipped. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const param of group.params) {
          const grad = param.grad;
          if (grad === null) continue;
          const state = scope(() => this.update(param, grad, group, this.state.get(param)));
          if (state === undefined) continue;
          // keep: a scope the caller opened around step() must not release the optimizer's state.
          for (const value of Object.values(state)) if (value instanceof Tensor) keep(value);
          this.state.set(param, state);
        }
      }
    });
  }

  /** The tensors of its per-parameter state (momentum buffers, moment estimates), parameter by parameter. */
  stateTensors(): Tensor[] {
    return [...this.state.values()].flatMap((state) =>
      Object.values(state).filter((v) => v instanceof Tensor),
    );
  }

  /**
   * What its next update depends on besides tensors: every group's options and the numbers in its state (Adam's
   * step counts). A recorded training step is replayed only while this stays the same (train/step-replay.ts).
   */
  settingsKey(): string {
    const groups = this.paramGroups.map(({ params, ...options }) => ({ ...options, params: params.length }));
    const numbers = [...this.state.values()].flatMap((state) =>
      Object.values(state).filter((v) => typeof v === 'number'),
    );
    return JSON.stringify([groups, numbers]);
  }

  /** Releases every parameter's gradient and sets it to null (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        param.grad?.dispose();
        param.grad = null;
      }
    }
  }

  /** The first param group's learning rate; setting it sets every group's. */
  get lr(): number {
    return this.paramGroups[0].lr;
  }

  set lr(value: number) {
    checkNumber(this.spec.name, 'lr', value, { min: 0 });
    for (const group of this.paramGroups) group.lr = value;
  }

  private orderedParams(): Tensor[] {
    return this.paramGroups.flatMap((group) => group.params);
  }

  /**
   * The optimizer's state and param groups, with parameters numbered as in PyTorch's `state_dict()`; see
   * OptimizerStateDict.
   */
  stateDict(): OptimizerStateDict {
    const params = this.orderedParams();
    const state: Record<string, ParamState> = {};
    params.forEach((param, index) => {
      const paramState = this.state.get(param);
      if (paramState !== undefined) state[index] = { ...paramState };
    });
    let offset = 0;
    const paramGroups = this.paramGroups.map(({ params: groupParams, ...options }) => {
      const indices = groupParams.map((_, i) => offset + i);
      offset += groupParams.length;
      return { ...structuredClone(options), params: indices };
    });
    return { state, paramGroups };
  }

  /** Restores options and state from `stateDict()`'s output; tensors are copied, as PyTorch deep-copies them. */
  loadStateDict(dict: OptimizerStateDict): void {
    const name = this.spec.name;
    const groups = dict?.paramGroups;
    if (!Array.isArray(groups) || groups.length !== this.paramGroups.length) {
      throw new ValueError(
        `${name}: loaded state has ${Array.isArray(groups) ? groups.length : 'no'} param groups, the optimizer has ${this.paramGroups.length}`,
      );
    }
    groups.forEach((group, i) => {
      if (group.params?.length !== this.paramGroups[i].params.length) {
        throw new ValueError(
          `${name}: loaded param group ${i} has ${group.params?.length} parameters, the optimizer's has ${this.paramGroups[i].params.length}`,
        );
      }
    });
    const merged = groups.map(({ params: _indices, ...options }, i) => {
      const group = { ...this.paramGroups[i], ...structuredClone(options) } as ParamGroup<O>;
      this.checkOptions(group, `${name} (loaded param group ${i})`);
      return group;
    });
    const state = this.copyState(dict.state ?? {});
    for (const old of this.state.values())
      for (const value of Object.values(old)) if (value instanceof Tensor) value.dispose();
    this.state.clear();
    for (const [param, paramState] of state) this.state.set(param, paramState);
    merged.forEach((group, i) => (this.paramGroups[i] = group));
  }

  private copyState(saved: Record<string, ParamState>): Map<Tensor, S> {
    const params = this.orderedParams();
    const copies = new Map<Tensor, S>();
    try {
      this.copyEach(saved, params, copies);
    } catch (error) {
      for (const copy of copies.values())
        for (const value of Object.values(copy)) if (value instanceof Tensor) value.dispose();
      throw error;
    }
    return copies;
  }

  private copyEach(saved: Record<string, ParamState>, params: Tensor[], copies: Map<Tensor, S>): void {
    const name = this.spec.name;
    for (const [key, paramState] of Object.entries(saved)) {
      const param = params[Number(key)];
      if (param === undefined)
        throw new ValueError(`${name}: loaded state names parameter ${key}, which does not exist`);
      const keys = Object.keys(paramState ?? {}).sort();
      if (keys.join() !== [...this.spec.stateKeys].sort().join()) {
        throw new ValueError(
          `${name}: loaded state of parameter ${key} has keys [${keys}], expected [${this.spec.stateKeys}]`,
        );
      }
      const copy: ParamState = {};
      for (const [field, value] of Object.entries(paramState)) {
        if (typeof value === 'number') copy[field] = value;
        else if (
          value instanceof Tensor &&
          value.shape.join() === param.shape.join() &&
          value.dtype === param.dtype
        ) {
          copy[field] = keep(value.detach());
        } else {
          const got = value instanceof Tensor ? `tensor ${formatShape(value.shape)}` : String(value);
          throw new ValueError(
            `${name}: loaded ${field} of parameter ${key} must be a number or a tensor ${formatShape(param.shape)}, got ${got}`,
          );
        }
      }
      copies.set(param, copy as S);
    }
  }
}
