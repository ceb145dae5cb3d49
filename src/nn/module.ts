import { ConvnetsError, ValueError } from '../errors.js';
import { keep, type Tensor } from '../tensor/index.js';
import { callScope, outsideCallScopes } from '../tensor/scope.js';
import {
  loadStateDictInto,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type StateDict,
} from './state-dict.js';
import { checkOptions } from '../options.js';

/** A tensor a module trains: registered with registerParameter, which marks it requiresGrad. */
export type Parameter = Tensor;

/** Options of numParameters. */
export interface NumParametersOptions {
  /** Count only parameters that currently require gradients (not frozen). */
  trainableOnly?: boolean;
}

interface ActiveCall {
  readonly module: Module;
  readonly path: string;
}

/** Modules whose call() is running, outermost first: the source of the layer paths errors report. */
const callStack: ActiveCall[] = [];

/** One Module.call that returned, as call observers see it. */
export interface ModuleCall {
  readonly module: Module;
  /** Dotted path from the outermost module called ('' for that one), as errors name layers. */
  readonly path: string;
  /** Number of calls running around this one: 0 for the outermost. */
  readonly depth: number;
  /** Increases with the order in which calls started, so sorting by it lists a parent before its children. */
  readonly index: number;
  readonly input: Tensor;
  readonly output: Tensor;
}

/** Called after each module call while observing (summaries and tracing use it). */
export type CallObserver = (call: ModuleCall) => void;

/**
 * Runs after one module's forward, as PyTorch's register_forward_hook: it sees the input and output, and a tensor
 * it returns replaces the output for everything downstream (how analysis/ cuts the graph at a layer to read the
 * gradient of its activations).
 */
export type ForwardHook = (module: Module, input: Tensor, output: Tensor) => Tensor | void;

const observers: CallObserver[] = [];
let callsStarted = 0;

/**
 * Inputs and outputs of module calls that something beyond the calling forward may hold: forward hooks and call
 * observers see them, and a module that does not declare forwardKeepsNothing may store them.
 */
const exposed = new WeakSet<Tensor>();

/** Whether anything but the forward that made `t` may hold it (see exposed). */
export function isExposed(t: Tensor): boolean {
  return exposed.has(t);
}

/**
 * Notifies fn after every Module.call returns (children before their parent); returns a function that stops it.
 * The hook behind analysis/summary: it sees shapes without each layer having to report them.
 */
export function observeCalls(fn: CallObserver): () => void {
  observers.push(fn);
  return () => {
    const at = observers.indexOf(fn);
    if (at >= 0) observers.splice(at, 1);
  };
}

function joinPath(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

function checkName(kind: string, name: string): void {
  if (name === '' || name.includes('.'))
    throw new ValueError(`${kind} name '${name}' must be non-empty and contain no '.'`);
}

/**
 * Base of every layer and network, in PyTorch's shape. Child modules are the instance's own enumerable
 * properties holding a Module (so `net.fc = new Linear(512, 10)` swaps a head); parameters and buffers are
 * registered by name, under torchvision's state_dict names.
 */
export abstract class Module {
  /**
   * True on a class whose forward() keeps no tensor it makes or is given (stores none on the module or elsewhere),
   * returning only its output. A call of such a module that records no gradient (under noGrad, or frozen weights on
   * an input needing none) then releases every other tensor it made as it returns, as PyTorch frees what nothing
   * references; a fine-tuned network keeps nothing of its frozen layers. The library's layers and blocks declare it;
   * a subclass that keeps an activation must set it back to false.
   */
  static readonly forwardKeepsNothing: boolean = false;

  training = true;
  #frozen = false;
  /** The mode train() or eval() last asked for, which a frozen module does not take until unfrozen. */
  #modeAsked = true;
  readonly #parameters = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  /** Names given through registerModule, whose order JavaScript's property order may not keep (integer-like keys). */
  readonly #childOrder: string[] = [];
  readonly #forwardHooks: ForwardHook[] = [];

  /** The computation of this module, on one input; call() runs it (and names the layer in errors), so call that. */
  abstract forward(x: Tensor): Tensor;

  /**
   * Multiply-accumulates this module does itself (not through its children) for one call whose input and
   * output had these shapes, batch included. Convolutions and fully connected layers count, as in
   * torchvision's figures; everything else is 0.
   */
  macs(_inputShape: readonly number[], _outputShape: readonly number[]): number {
    return 0;
  }

  /** Runs forward; a ConvnetsError escaping it is prefixed with this module's dotted path and type. */
  call(x: Tensor): Tensor {
    const parent = callStack[callStack.length - 1];
    const path =
      parent === undefined ? '' : joinPath(parent.path, parent.module.childName(this) ?? this.typeName);
    const index = callsStarted++;
    callStack.push({ module: this, path });
    try {
      const keepsNothing = (this.constructor as typeof Module).forwardKeepsNothing;
      if (keepsNothing && !this.isObserved()) return callScope(() => this.forward(x));
      // Hooks, observers or the module itself may hold what the call makes: no module call's scope releases it.
      return outsideCallScopes(() => {
        let output = this.forward(x);
        for (const hook of [...this.#forwardHooks]) output = hook(this, x, output) ?? output;
        if (observers.length > 0) {
          const call = { module: this, path, depth: callStack.length - 1, index, input: x, output };
          for (const observer of [...observers]) observer(call);
        }
        exposed.add(x);
        exposed.add(output);
        return output;
      });
    } catch (error) {
      if (error instanceof ConvnetsError) {
        if (path !== '') error.atLayer(path, this.typeName);
        else if (error.layerPath === undefined) {
          // The root has no path; naming its type alone reads better than an empty prefix.
          error.layerPath = '';
          error.message = `${this.typeName}: ${error.message}`;
        }
      }
      throw error;
    } finally {
      callStack.pop();
    }
  }

  /** Whether a forward hook of this module or a call observer sees its calls. */
  isObserved(): boolean {
    return this.#forwardHooks.length > 0 || observers.length > 0;
  }

  /** Calls hook after every forward of this module (not its children), in registration order; returns its remover. */
  registerForwardHook(hook: ForwardHook): () => void {
    this.#forwardHooks.push(hook);
    return () => {
      const at = this.#forwardHooks.indexOf(hook);
      if (at >= 0) this.#forwardHooks.splice(at, 1);
    };
  }

  get typeName(): string {
    return this.constructor.name;
  }

  /** Registers (or replaces) a trainable tensor; null records an absent one, as `bias=False` in PyTorch. */
  registerParameter(name: string, value: Tensor | null): Parameter | null {
    this.checkFreeName('parameter', name, this.#parameters);
    if (value !== null) keep(value.requireGrad());
    this.#parameters.set(name, value);
    return value;
  }

  /** Registers (or replaces) saved state that is not trained, such as BatchNorm's running statistics. */
  registerBuffer(name: string, value: Tensor | null): Tensor | null {
    this.checkFreeName('buffer', name, this.#buffers);
    if (value !== null) keep(value);
    this.#buffers.set(name, value);
    return value;
  }

  /** Adds a child under a name (PyTorch's add_module); its position among children is the order of registration. */
  registerModule(name: string, module: Module | null): void {
    checkName('module', name);
    const current: unknown = this.property(name);
    if (name in this && current !== null && current !== undefined && !(current instanceof Module)) {
      throw new ValueError(
        `cannot register module '${name}' on ${this.typeName}: the name is taken by another member`,
      );
    }
    if (this.#parameters.has(name) || this.#buffers.has(name)) {
      throw new ValueError(
        `cannot register module '${name}' on ${this.typeName}: a parameter or buffer has that name`,
      );
    }
    // Replacing a child keeps its place: a constructor's child (a property, not in #childOrder) stays where it was.
    const replacing = current instanceof Module;
    (this as unknown as Record<string, unknown>)[name] = module;
    if (!replacing && !this.#childOrder.includes(name)) this.#childOrder.push(name);
  }

  private checkFreeName(kind: string, name: string, own: Map<string, Tensor | null>): void {
    checkName(kind, name);
    const taken =
      (own !== this.#parameters && this.#parameters.has(name)) ||
      (own !== this.#buffers && this.#buffers.has(name)) ||
      this.property(name) instanceof Module;
    if (taken)
      throw new ValueError(
        `cannot register ${kind} '${name}' on ${this.typeName}: the name is already in use`,
      );
  }

  private property(name: string): unknown {
    return Object.prototype.hasOwnProperty.call(this, name)
      ? (this as unknown as Record<string, unknown>)[name]
      : undefined;
  }

  private childName(child: Module): string | undefined {
    return this.namedChildren().find(([, m]) => m === child)?.[0];
  }

  // ---- traversal ----

  /** [name, module] pairs of the direct submodules, in registration order. */
  namedChildren(): [string, Module][] {
    const keys = Object.keys(this);
    const ordered = [
      ...this.#childOrder.filter((n) => keys.includes(n)),
      ...keys.filter((n) => !this.#childOrder.includes(n)),
    ];
    return ordered.flatMap((name): [string, Module][] => {
      const value = this.property(name);
      return value instanceof Module ? [[name, value]] : [];
    });
  }

  /** The direct submodules, in registration order. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every descendant, pre-order, each once, with dotted paths ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const seen = new Set<Module>();
    const out: [string, Module][] = [];
    const visit = (path: string, module: Module): void => {
      if (seen.has(module)) return;
      seen.add(module);
      out.push([path, module]);
      for (const [name, child] of module.namedChildren()) visit(joinPath(path, name), child);
    };
    visit(prefix, this);
    return out;
  }

  /** This module and every descendant, depth first. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** The sub-module at a dotted path such as 'layer1.0.conv1'; '' is this module. */
  get(path: string): Module {
    if (path === '') return this;
    const names = path.split('.');
    return names.reduce<Module>((module, name, i) => {
      const child = module.namedChildren().find(([n]) => n === name)?.[1];
      if (child !== undefined) return child;
      const at = names.slice(0, i).join('.');
      const available = module.namedChildren().map(([n]) => n);
      throw new ValueError(
        `${this.typeName} has no sub-module '${path}': ${at === '' ? 'it' : `'${at}' (${module.typeName})`} has no child '${name}'` +
          ` (children: ${available.length > 0 ? available.join(', ') : 'none'})`,
      );
    }, this);
  }

  private namedTensors(own: (m: Module) => Map<string, Tensor | null>, recurse: boolean): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    const modules: [string, Module][] = recurse ? this.namedModules() : [['', this]];
    for (const [path, module] of modules) {
      for (const [name, t] of own(module)) {
        if (t === null || seen.has(t)) continue;
        seen.add(t);
        out.push([joinPath(path, name), t]);
      }
    }
    return out;
  }

  /** [dotted name, tensor] pairs as torchvision names them ('layer1.0.conv1.weight'), each tensor once. */
  namedParameters(options: { recurse?: boolean } = {}): [string, Parameter][] {
    checkOptions('Module.namedParameters', options, { recurse: true });
    return this.namedTensors((m) => m.#parameters, options.recurse ?? true);
  }

  /** Every parameter, each tensor once; what an optimizer is given. */
  parameters(options: { recurse?: boolean } = {}): Parameter[] {
    checkOptions('Module.parameters', options, { recurse: true });
    return this.namedParameters(options).map(([, t]) => t);
  }

  /** [dotted name, tensor] pairs of the buffers, as torchvision names them ('bn1.running_mean'). */
  namedBuffers(options: { recurse?: boolean } = {}): [string, Tensor][] {
    checkOptions('Module.namedBuffers', options, { recurse: true });
    return this.namedTensors((m) => m.#buffers, options.recurse ?? true);
  }

  /** Every buffer (running statistics and the like); see namedBuffers. */
  buffers(options: { recurse?: boolean } = {}): Tensor[] {
    checkOptions('Module.buffers', options, { recurse: true });
    return this.namedBuffers(options).map(([, t]) => t);
  }

  /** A registered parameter by dotted path; null when registered as absent (a layer without bias). */
  getParameter(path: string): Parameter | null {
    return this.ownTensor(path, 'parameter', (m) => m.#parameters);
  }

  /** A registered buffer by dotted path; null when registered as absent. */
  getBuffer(path: string): Tensor | null {
    return this.ownTensor(path, 'buffer', (m) => m.#buffers);
  }

  private ownTensor(
    path: string,
    kind: string,
    own: (m: Module) => Map<string, Tensor | null>,
  ): Tensor | null {
    const cut = path.lastIndexOf('.');
    const module = this.get(path.slice(0, Math.max(cut, 0)));
    const name = path.slice(cut + 1);
    const map = own(module);
    if (!map.has(name)) {
      const names = [...map.keys()];
      throw new ValueError(
        `${module.typeName} has no ${kind} '${name}'${cut > 0 ? ` (at '${path}')` : ''}; it has ${names.length > 0 ? names.join(', ') : 'none'}`,
      );
    }
    return map.get(name) ?? null;
  }

  // ---- state ----

  /**
   * Parameters and buffers by torchvision's keys, in PyTorch's order (each module's parameters, then its buffers,
   * then its children's). The tensors themselves, not copies; a shared tensor appears under each of its names.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    const visit = (prefix: string, module: Module): void => {
      for (const own of [module.#parameters, module.#buffers]) {
        for (const [name, t] of own) if (t !== null) out.set(joinPath(prefix, name), t);
      }
      for (const [name, child] of module.namedChildren()) visit(joinPath(prefix, name), child);
    };
    visit('', this);
    return out;
  }

  /**
   * Copies values in by key, keeping each tensor's identity (optimizers holding them stay valid). A shape
   * mismatch is always an error; with strict (the default) a missing or unexpected key is one too.
   */
  loadStateDict(
    state: StateDict | Record<string, Tensor>,
    options: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    checkOptions('Module.loadStateDict', options, { strict: true, optional: true });
    return loadStateDictInto(this.stateDict(), state, options);
  }

  // ---- modes and gradients ----

  /**
   * Sets training mode on this module and all descendants (BatchNorm, Dropout behave differently). Frozen modules
   * stay in evaluation mode: a frozen BatchNorm keeps normalising with, and never updates, its running statistics
   * (Keras's rule for transfer learning, whose users otherwise lose accuracy to drifting statistics).
   */
  train(mode = true): this {
    for (const module of this.modules()) {
      module.#modeAsked = mode;
      module.training = mode && !module.#frozen;
    }
    return this;
  }

  /** Switches to evaluation mode (train(false)): dropout off, batch norm uses its running statistics. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Stops gradients for every parameter of this sub-tree (backward skips them, optimizers leave them) and puts the
   * sub-tree in evaluation mode, where train() leaves it until unfreeze().
   */
  freeze(): this {
    for (const p of this.parameters()) p.requireGrad(false);
    for (const module of this.modules()) {
      module.#frozen = true;
      module.training = false;
    }
    return this;
  }

  /** Undoes freeze() on this sub-tree: gradients again, and the mode the last train() or eval() asked for. */
  unfreeze(): this {
    for (const p of this.parameters()) p.requireGrad(true);
    for (const module of this.modules()) {
      module.#frozen = false;
      module.training = module.#modeAsked;
    }
    return this;
  }

  /** Whether freeze() was called on this module or an ancestor of it (and unfreeze() not since). */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Releases and clears every parameter's accumulated gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Calls fn on every descendant, children first, then on this module (PyTorch's order). */
  apply(fn: (module: Module) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  /** The number of parameter values; `trainableOnly` leaves out frozen ones. */
  numParameters(options: NumParametersOptions = {}): number {
    checkOptions('Module.numParameters', options, { trainableOnly: true });
    return this.parameters()
      .filter((p) => !options.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.size, 0);
  }

  // ---- display ----

  /** The arguments shown between the parentheses of toString(), as PyTorch's extra_repr. */
  extraRepr(): string {
    return '';
  }

  /** PyTorch's repr: the type and its arguments, then each child indented under its name. */
  toString(): string {
    const children = this.namedChildren();
    const extra = this.extraRepr();
    if (children.length === 0) return `${this.typeName}(${extra})`;
    const lines = extra === '' ? [] : [`  ${extra}`];
    for (const [name, child] of children)
      lines.push(`  (${name}): ${child.toString().split('\n').join('\n  ')}`);
    return `${this.typeName}(\n${lines.join('\n')}\n)`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
