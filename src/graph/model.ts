/**
 * An ONNX model as a convnets Module: its graph runs node by node with convnets' ops on the active backend, so
 * it trains like any other module. Float initialisers are registered as parameters (buffers when they only feed
 * BatchNormalization's running statistics), under their ONNX names: a name such as 'layer1.0.conv1.weight' is
 * split at its dots into nested modules, so stateDict() keys are the ONNX names themselves and torchvision's
 * weights load by key. A name that cannot nest (an empty segment, or a segment clashing with a member of Module
 * or with another name) is registered flat with '%' escaped as '%25' and '.' as '%2E'; `stateKeys` maps every
 * initialiser to its key. Integer initialisers and Constant nodes are plain data of the model, not state.
 */
import { FormatError, ValueError } from '../errors.js';
import { Module } from '../nn/index.js';
import { Tensor, isGradEnabled, keep } from '../tensor/index.js';
import {
  compileNode,
  nodeWhere,
  runNode,
  unsupportedOperators,
  type CompiledNode,
  type Scope,
} from './compile.js';
import { DataType, dataTypeName, type Dimension, type GraphProto, type ModelProto } from './onnx-ir.js';
import { DEFAULT_MAX_BYTES } from './ops/budget.js';
import { GraphReplay } from './replay.js';
import { IntValues, OnnxUnsupportedError, arrayToValue, valueToTensor, type Value } from './values.js';
import { checkOptions, unknownOption, type OptionKeys } from '../options.js';

/** How an ONNX model is imported. */
export interface ImportOnnxOptions {
  /** Register float initialisers as trainable parameters (default true); false makes every one a buffer. */
  trainable?: boolean;
  /**
   * Rewrite the graph for inference first (optimizeGraph): BatchNormalization folded into the Conv before it,
   * residual Adds and Relus fused into convolutions. Default false; the rewritten model is for inference only.
   */
  optimize?: boolean;
  /**
   * The most bytes one value of a run may take: a node's output, or a tensor an operator builds on the way (a padded
   * copy). An operator whose attributes or constant inputs imply more is refused before allocating, at import where
   * the file alone decides it, else at run time. Default DEFAULT_MAX_BYTES (1 GiB); Infinity turns the budget off,
   * leaving the limits of typed arrays (2^32 elements) and of host integers (MAX_HOST_INTEGERS).
   */
  maxBytes?: number;
}

/** Every key of ImportOnnxOptions, for the functions that take them to check. */
export const importOnnxOptionKeys: OptionKeys<ImportOnnxOptions> = {
  trainable: true,
  optimize: true,
  maxBytes: true,
};

/** A graph input or output: its name, ONNX element type and shape (null where the file gives none). */
export interface OnnxValueInfo {
  name: string;
  elemType: number;
  shape: Dimension[] | null;
}

interface Step extends CompiledNode {
  /** Values no later step reads once this one ran: its inputs read for the last time, outputs nothing reads. */
  done?: string[];
}

/**
 * Element types graph inputs and outputs may have: float32 runs as tensors, the integer types as host values
 * (wrapping as their width does). DOUBLE and FLOAT16 inputs are refused rather than silently computed in float32.
 */
const ioTypes: readonly number[] = [
  DataType.FLOAT,
  DataType.INT64,
  DataType.INT32,
  DataType.INT16,
  DataType.INT8,
  DataType.UINT64,
  DataType.UINT32,
  DataType.UINT16,
  DataType.UINT8,
  DataType.BOOL,
];

/** Holds nested parameters and buffers for OnnxModel; it has no computation of its own. */
export class OnnxScope extends Module {
  forward(): Tensor {
    throw new ValueError('OnnxScope holds weights of an OnnxModel and is not called');
  }
}

/** The version of the default operator set a model imports. */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (entry === undefined) throw new FormatError('ONNX ModelProto: no opset_import for the default domain');
  if (!Number.isInteger(entry.version) || entry.version < 1) {
    throw new FormatError(`ONNX ModelProto: opset version ${entry.version} is not valid`);
  }
  return entry.version;
}

function valueInfo(info: GraphProto['input'][number], what: string): OnnxValueInfo {
  const type = info.type;
  if (type !== null && type.kind !== 'tensor') {
    throw new OnnxUnsupportedError(
      `${what} '${info.name}' is a ${type.kind}, not a tensor`,
      `${type.kind} values`,
    );
  }
  const elemType = type?.elemType ?? DataType.FLOAT;
  if (!ioTypes.includes(elemType)) {
    throw new OnnxUnsupportedError(
      `${what} '${info.name}' has element type ${dataTypeName(elemType)}`,
      `${dataTypeName(elemType)} ${what}s`,
    );
  }
  return { name: info.name, elemType, shape: type?.shape ?? null };
}

/** Members every scope has (training, forward, call…): no child scope may take their names. */
let scopeProbe: OnnxScope | null = null;

/**
 * The module a dotted name's last segment registers on, creating the OnnxScopes of its prefix; null when the name
 * cannot nest (an empty segment, a scope name clashing with a member of Module, or a name already taken). A
 * parameter is not a property, so only scopes can clash with members; nothing is created when null is returned.
 */
function nestedOwner(root: Module, name: string, taken: ReadonlySet<string>): Module | null {
  const parts = name.split('.');
  if (parts.some((p) => p === '')) return null;
  scopeProbe ??= new OnnxScope();
  // A dry run first, so that a clash found late leaves no empty scope behind. owner null: below a new scope.
  let owner: Module | null = root;
  let path = '';
  for (const [i, part] of parts.entries()) {
    path = path === '' ? part : `${path}.${part}`;
    if (taken.has(path)) return null;
    const existing: unknown =
      owner !== null && Object.hasOwn(owner, part)
        ? (owner as unknown as Record<string, unknown>)[part]
        : undefined;
    if (i === parts.length - 1) {
      if (existing instanceof Module) return null;
    } else if (existing instanceof OnnxScope) owner = existing;
    else if (part in (owner ?? scopeProbe)) return null;
    else owner = null;
  }
  owner = root;
  for (const part of parts.slice(0, -1)) {
    const existing: unknown = Object.hasOwn(owner, part)
      ? (owner as unknown as Record<string, unknown>)[part]
      : undefined;
    if (existing instanceof OnnxScope) owner = existing;
    else {
      const scope = new OnnxScope();
      owner.registerModule(part, scope);
      owner = scope;
    }
  }
  return owner;
}

/** A flat key for a name that cannot nest: '%' → '%25', '.' → '%2E', and a numeric suffix if still taken. */
function escapedKey(root: Module, name: string, taken: ReadonlySet<string>): string {
  const base = name.replaceAll('%', '%25').replaceAll('.', '%2E') || '%';
  let key = base;
  for (let n = 1; key in root || taken.has(key); n++) key = `${base}%${n}`;
  return key;
}

export class OnnxModel extends Module {
  readonly #steps: Step[] = [];
  /** Initialisers and Constant outputs by value name: live for the model's lifetime. */
  readonly #constants = new Map<string, Value>();
  readonly #inputs: OnnxValueInfo[];
  readonly #outputs: OnnxValueInfo[];
  readonly #opset: number;
  readonly #stateKeys = new Map<string, string>();
  /** Index of the last step reading each value, for releasing intermediates early in inference. */
  readonly #lastUse = new Map<string, number>();
  readonly #outputNames: ReadonlySet<string>;
  /** Inference runs replayed from a recording of their kernel calls, where the backend records (replay.ts). */
  readonly #replay: GraphReplay;
  /**
   * #constants' values and those the subgraphs of If and Loop nodes hold, set once the graph is built: never freed
   * by run(), under whatever name they pass.
   */
  #constantValues: ReadonlySet<Value> = new Set();
  readonly #producer: string;
  readonly #metadata: Readonly<Record<string, string>>;
  readonly #maxBytes: number;

  constructor(model: ModelProto, options: ImportOnnxOptions = {}) {
    super();
    checkOptions('OnnxModel', options, importOnnxOptionKeys);
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (typeof this.#maxBytes !== 'number' || !(this.#maxBytes > 0))
      throw new ValueError(`maxBytes must be a positive number, got ${options.maxBytes}`);
    const graph = model.graph;
    const missing = unsupportedOperators(graph);
    if (missing.length > 0) {
      throw new OnnxUnsupportedError(
        `the model uses operators convnets does not run: ${missing.join(', ')}`,
        `ops ${missing.join(', ')}`,
      );
    }
    this.#opset = defaultOpset(model);
    this.#producer = `${model.producerName} ${model.producerVersion}`.trim();
    this.#metadata = Object.fromEntries(model.metadataProps);
    if (graph.sparseInitializers > 0) {
      throw new OnnxUnsupportedError('the graph has sparse initialisers', 'sparse initialisers');
    }
    const initialised = new Set(graph.initializer.map((t) => t.name));
    this.#inputs = graph.input.filter((i) => !initialised.has(i.name)).map((i) => valueInfo(i, 'input'));
    this.#outputs = graph.output.map((o) => valueInfo(o, 'output'));
    this.#outputNames = new Set(this.#outputs.map((o) => o.name));
    this.#replay = new GraphReplay([...this.#outputNames], () => this.#constantValues);
    this.registerInitialisers(graph, options.trainable ?? true);
    this.buildSteps(graph);
  }

  /** Float initialisers become parameters or buffers under their ONNX names; integer ones, plain values. */
  private registerInitialisers(graph: GraphProto, trainable: boolean): void {
    // BatchNormalization's running mean and variance (inputs 4 and 5) are state, not trained.
    const statistics = new Set<string>();
    const otherUses = new Set<string>();
    for (const node of graph.node) {
      node.input.forEach((name, i) =>
        (node.opType === 'BatchNormalization' && i >= 3 ? statistics : otherUses).add(name),
      );
    }
    const names = new Set<string>();
    graph.initializer.forEach((t, i) => {
      if (t.name === '') throw new FormatError(`ONNX GraphProto.initializer[${i}] has no name`);
      if (names.has(t.name)) throw new FormatError(`ONNX initialiser '${t.name}' appears twice`);
      names.add(t.name);
      const value = arrayToValue(t.values('initialiser'));
      if (value instanceof Tensor) {
        const asParameter = trainable && !(statistics.has(t.name) && !otherUses.has(t.name));
        this.#stateKeys.set(t.name, this.place(t.name, value, asParameter));
      }
      this.#constants.set(t.name, value);
    });
  }

  /** Registers a tensor under an ONNX name, nested at its dots where possible; returns its state-dict key. */
  private place(name: string, value: Tensor, asParameter: boolean): string {
    const taken = new Set(this.#stateKeys.values());
    const owner = nestedOwner(this, name, taken);
    const key = owner === null ? escapedKey(this, name, taken) : name;
    const at = owner ?? this;
    const last = owner === null ? key : name.slice(name.lastIndexOf('.') + 1);
    if (asParameter) at.registerParameter(last, value);
    else at.registerBuffer(last, value);
    return key;
  }

  private buildSteps(graph: GraphProto): void {
    const known = new Set<string>([...this.#constants.keys(), ...this.#inputs.map((i) => i.name)]);
    const scope: Scope = {
      opset: this.#opset,
      maxBytes: this.#maxBytes,
      visible: (name) => known.has(name),
      constant: (name) => this.#constants.get(name),
    };
    graph.node.forEach((node, index) => {
      const where = nodeWhere(node, index);
      for (const name of node.input) {
        if (name !== '' && !known.has(name)) {
          throw new FormatError(
            `${where}: input '${name}' is not a graph input, an initialiser or an earlier node's output`,
          );
        }
      }
      const step = compileNode(node, where, scope);
      if (node.opType === 'Constant') {
        // Evaluated once: its value is part of the model, like an initialiser.
        const [value] = runNode(step, []);
        if (value instanceof Tensor) keep(value);
        this.#constants.set(node.output[0], value);
      } else {
        this.#steps.push(step);
        for (const name of step.inputs) this.#lastUse.set(name, this.#steps.length - 1);
      }
      for (const name of node.output) if (name !== '') known.add(name);
    });
    for (const output of this.#outputs) {
      if (!known.has(output.name))
        throw new FormatError(`ONNX graph output '${output.name}' is never produced`);
    }
    this.#constantValues = new Set([
      ...this.#constants.values(),
      ...this.#steps.flatMap((step) => step.held),
    ]);
    this.#steps.forEach((step, index) => {
      const { inputs: input, node } = step;
      const { output } = node;
      const done = [
        ...input.filter((name) => this.#lastUse.get(name) === index),
        ...output.filter((name) => !this.#lastUse.has(name)),
      ];
      step.done = [...new Set(done)].filter(
        (name) => name !== '' && !this.#outputNames.has(name) && !this.#constants.has(name),
      );
    });
  }

  /** The graph's inputs that are not initialisers: what run() and forward() need. */
  get inputs(): readonly OnnxValueInfo[] {
    return this.#inputs;
  }

  get outputs(): readonly OnnxValueInfo[] {
    return this.#outputs;
  }

  get opsetVersion(): number {
    return this.#opset;
  }

  get producer(): string {
    return this.#producer;
  }

  /** The file's metadata_props as key → value (convnets export stores the preprocessing and class names there). */
  get metadata(): Readonly<Record<string, string>> {
    return this.#metadata;
  }

  /** Each float initialiser's key in stateDict() (the ONNX name itself unless it had to be escaped). */
  get stateKeys(): ReadonlyMap<string, string> {
    return this.#stateKeys;
  }

  /** Runs a model with exactly one input and returns its first output (integers as an int32 tensor). */
  forward(x: Tensor): Tensor {
    if (this.#inputs.length !== 1) {
      throw new ValueError(
        `forward() takes one input, but the model has ${this.#inputs.length} (${this.#inputs.map((i) => i.name).join(', ')}); use run()`,
      );
    }
    const outputs = this.run([x]);
    const first = this.#outputs[0].name;
    return valueToTensor(outputs.get(first) as Value, `output '${first}'`);
  }

  /**
   * Runs the graph on inputs given in order, by name, or as one value for a model with one input; returns every
   * graph output by name. Float inputs are tensors; integer inputs may be IntValues or int32 tensors. Intermediate
   * values are released as soon as no later node reads them, unless gradients are being recorded (backward may
   * still need them).
   */
  run(inputs: Value | readonly Value[] | Readonly<Record<string, Value>>): Map<string, Value> {
    if (inputs instanceof Tensor || inputs instanceof IntValues) inputs = [inputs];
    if (!Array.isArray(inputs)) {
      const names = this.#inputs.map((i) => i.name);
      const unknown = Object.keys(inputs).find((name) => !names.includes(name));
      if (unknown !== undefined)
        throw new ValueError(`OnnxModel.run: ${unknownOption(unknown, names, 'input')}`);
    }
    const given = Array.isArray(inputs)
      ? inputs
      : this.#inputs.map((i) => (inputs as Record<string, Value>)[i.name]);
    if (given.length !== this.#inputs.length) {
      throw new ValueError(`the model takes ${this.#inputs.length} inputs, got ${given.length}`);
    }
    const values = this.#inputs.map((info, i) => {
      const v = given[i];
      if (v === undefined) throw new ValueError(`input '${info.name}' is missing`);
      const wantsFloat = info.elemType === DataType.FLOAT;
      const isFloat = v instanceof Tensor && v.dtype === 'float32';
      if (wantsFloat !== isFloat) {
        throw new ValueError(`input '${info.name}' must be ${wantsFloat ? 'a float32 tensor' : 'integers'}`);
      }
      return v instanceof Tensor && !isFloat ? new IntValues(v.shape, Array.from(v.data())) : v;
    });
    return this.#replay.run(values, (fed) => this.runNodes(fed));
  }

  /** Runs the graph node by node on validated inputs (in #inputs' order). */
  private runNodes(inputs: readonly Value[]): Map<string, Value> {
    // The values this run was given or made; constants are looked up in #constants.
    const env = new Map<string, Value>(this.#inputs.map((info, i) => [info.name, inputs[i]]));
    const fed = new Set<Value>(inputs);
    const release = !isGradEnabled();
    const constants = this.#constants;
    // Whether the tensor under `name` may be freed once that name is done with: not a graph output, constant or
    // caller's input, and held under no other name (Identity and Reshape may pass a tensor through).
    const ownedBy = (name: string): boolean => {
      const v = env.get(name);
      if (!(v instanceof Tensor) || this.#outputNames.has(name) || fed.has(v) || this.#constantValues.has(v))
        return false;
      for (const [other, u] of env) if (u === v && other !== name) return false;
      return true;
    };
    this.#steps.forEach((step, index) => {
      const input = step.inputs;
      const values = input.map((name) =>
        name === '' ? null : (env.get(name) ?? constants.get(name) ?? null),
      );
      // Asked by a kernel that can reuse an input's memory: read here for the last time, and owned by that name.
      const consumable = (i: number): boolean =>
        release &&
        this.#lastUse.get(input[i]) === index &&
        input.indexOf(input[i]) === i &&
        ownedBy(input[i]);
      const outputs = runNode(step, values, consumable);
      step.node.output.forEach((name, i) => {
        if (name !== '') env.set(name, outputs[i]);
      });
      if (!release) return;
      for (const name of step.done ?? []) {
        const v = env.get(name);
        const owned = ownedBy(name);
        env.delete(name);
        if (owned) (v as Tensor).dispose();
      }
    });
    return new Map(this.#outputs.map((o) => [o.name, (env.get(o.name) ?? constants.get(o.name)) as Value]));
  }

  override extraRepr(): string {
    const io = (list: readonly OnnxValueInfo[]) => list.map((v) => v.name).join(', ');
    return `inputs=[${io(this.#inputs)}], outputs=[${io(this.#outputs)}], nodes=${this.#steps.length}, opset=${this.#opset}`;
  }
}
