/**
 * Turning graph nodes into kernels: each operator's factory reads and checks a node's attributes once, and a graph
 * attribute (If's branches, Loop's body) compiles into a Subgraph here. A subgraph may read values of the graphs
 * around it by name; those names become inputs of the node that holds it, so the enclosing graph keeps them alive
 * until that node ran, and hands them over when it runs.
 */
import { ConvnetsError, FormatError } from '../errors.js';
import { Tensor, keep, scope } from '../tensor/index.js';
import type { GraphProto, NodeProto } from './onnx-ir.js';
import { CONVNETS_DOMAIN } from './optimize.js';
import { checkOutputs } from './ops/budget.js';
import { operators, type Kernel, type OpContext, type Subgraph } from './ops/index.js';
import { Attributes, OnnxUnsupportedError, arrayToValue, type Value } from './values.js';

export function nodeWhere(node: NodeProto, index: number): string {
  return `node ${node.name === '' ? `#${index}` : `'${node.name}'`} (${node.opType})`;
}

function opKey(node: NodeProto): string {
  return node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}.${node.opType}`;
}

/** The graphs a node holds as attributes. */
function subgraphsOf(node: NodeProto): GraphProto[] {
  return node.attribute.flatMap((a) => [...(a.g === null ? [] : [a.g]), ...a.graphs]);
}

/** Operators of the graph and the graphs nested in it that convnets does not run, sorted, each once. */
export function unsupportedOperators(graph: GraphProto): string[] {
  const missing = new Set<string>();
  const visit = (g: GraphProto): void => {
    for (const node of g.node) {
      const key = opKey(node);
      const known = key === node.opType || node.domain === CONVNETS_DOMAIN;
      if (!known || !Object.hasOwn(operators, key)) missing.add(key);
      subgraphsOf(node).forEach(visit);
    }
  };
  visit(graph);
  return [...missing].sort();
}

/** What a node being compiled can see of the graphs it is in. */
export interface Scope {
  /** The default-domain operator set version. */
  readonly opset: number;
  /** The most bytes one value of a run may take (ImportOnnxOptions.maxBytes). */
  readonly maxBytes: number;
  /** Whether a value of this name is made, by this node, in this graph or one around it. */
  visible(name: string): boolean;
  /** The value of a name that is a constant (an initialiser or a Constant's output) here or around. */
  constant(name: string): Value | undefined;
}

/** A node ready to run. */
export interface CompiledNode {
  readonly node: NodeProto;
  readonly where: string;
  readonly kernel: Kernel;
  /** The names of the values it reads: its inputs, then the names its subgraphs read from around it. */
  readonly inputs: readonly string[];
  /** Values its subgraphs hold for the model's lifetime: a run hands them out, and must never release them. */
  readonly held: readonly Value[];
  readonly maxBytes: number;
}

/** Runs a node's kernel on its input values, naming the node in any error; each value it made within the budget. */
export function runNode(
  step: CompiledNode,
  inputs: readonly (Value | null)[],
  consumable: (i: number) => boolean = () => false,
): Value[] {
  try {
    const outputs = scope(() => {
      const made = step.kernel(inputs, consumable);
      checkOutputs(step, made, inputs, step.node.output);
      return made;
    });
    const wanted = step.node.output.filter((name) => name !== '').length;
    if (outputs.length < wanted) {
      throw new FormatError(`${step.where}: produced ${outputs.length} outputs, the node names ${wanted}`);
    }
    return outputs;
  } catch (error) {
    if (error instanceof ConvnetsError && !error.message.includes(step.where)) {
      error.message = `${step.where}: ${error.message}`;
    }
    throw error;
  }
}

/** Compiles one node: its operator's kernel, with every attribute read (an unread one is unsupported). */
export function compileNode(node: NodeProto, where: string, around: Scope): CompiledNode {
  const attrs = new Attributes(node, where);
  const captures: string[] = [];
  const held: Value[] = [];
  const ctx: OpContext = {
    node,
    attrs,
    opset: around.opset,
    where,
    maxBytes: around.maxBytes,
    subgraph: (attribute) => {
      const graph = attrs.graph(attribute);
      if (graph === undefined) throw new FormatError(`${where}: attribute '${attribute}' is missing`);
      const compiled = compileSubgraph(graph, `${where} ${attribute}`, around);
      for (const name of compiled.captures) if (!captures.includes(name)) captures.push(name);
      held.push(...compiled.held);
      return compiled;
    },
    constantInput: (i) => (node.input[i] ? around.constant(node.input[i]) : undefined),
    byName: (inputs) => new Map(inputs.flatMap((v, i) => (v === null ? [] : [[names[i], v]]))),
  };
  const kernel = operators[opKey(node)](ctx);
  const unread = attrs.unread();
  if (unread.length > 0) {
    throw new OnnxUnsupportedError(
      `${where}: unsupported attribute${unread.length > 1 ? 's' : ''} ${unread.map((a) => `'${a}'`).join(', ')}`,
      `${node.opType} attribute ${unread.join(', ')}`,
    );
  }
  const names = [...node.input, ...captures];
  return { node, where, kernel, inputs: names, held, maxBytes: around.maxBytes };
}

/** Compiles a graph attribute; `where` names it in errors ("node 'If_0' (If) then_branch"). */
function compileSubgraph(graph: GraphProto, where: string, around: Scope): Subgraph {
  const constants = new Map<string, Value>();
  const defined = new Set<string>(graph.input.map((i) => i.name));
  for (const t of graph.initializer) {
    const value = arrayToValue(t.values(`${where} initialiser`));
    if (value instanceof Tensor) keep(value);
    constants.set(t.name, value);
    defined.add(t.name);
  }
  const captures: string[] = [];
  const read = (name: string, what: string): void => {
    if (name === '' || defined.has(name)) return;
    if (!around.visible(name))
      throw new FormatError(`${what}: '${name}' is not a value of this graph or one around it`);
    if (!captures.includes(name)) captures.push(name);
  };
  const scopeHere: Scope = {
    opset: around.opset,
    maxBytes: around.maxBytes,
    visible: (name) => defined.has(name) || around.visible(name),
    constant: (name) => constants.get(name) ?? (defined.has(name) ? undefined : around.constant(name)),
  };
  const steps: CompiledNode[] = [];
  graph.node.forEach((node, index) => {
    const step = compileNode(node, `${nodeWhere(node, index)} in ${where}`, scopeHere);
    step.inputs.forEach((name) => read(name, step.where));
    if (node.opType === 'Constant') {
      const [value] = runNode(step, []);
      if (value instanceof Tensor) keep(value);
      constants.set(node.output[0], value);
    } else steps.push(step);
    for (const name of node.output) if (name !== '') defined.add(name);
  });
  const outputs = graph.output.map((o) => o.name);
  outputs.forEach((name) => read(name, `${where} output`));
  return {
    captures,
    held: [...constants.values(), ...steps.flatMap((step) => step.held)],
    run(inputs, aroundValues) {
      const env = new Map<string, Value>(aroundValues);
      graph.input.forEach((info, i) => env.set(info.name, inputs[i]));
      const valueOf = (name: string) => (name === '' ? null : (env.get(name) ?? constants.get(name) ?? null));
      for (const step of steps) {
        const results = runNode(step, step.inputs.map(valueOf));
        step.node.output.forEach((name, i) => {
          if (name !== '') env.set(name, results[i]);
        });
      }
      return outputs.map((name) => {
        const value = valueOf(name);
        if (value === null) throw new FormatError(`${where}: output '${name}' was not computed`);
        return value;
      });
    },
  };
}
