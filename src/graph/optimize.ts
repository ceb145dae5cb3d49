/**
 * Graph rewrites for inference, the ones ONNX Runtime applies to convolutional networks on the CPU:
 *
 * 1. a BatchNormalization whose input is a Conv's only use is folded into that Conv's weights and bias
 *    (w' = w · s, b' = (b − mean) · s + beta, with s = scale / √(var + ε) per output channel);
 * 2. a Conv whose output only feeds an Add (a residual sum), a Relu, or an Add and then a Relu, becomes one
 *    FusedConv node (domain ai.convnets): the sum and the activation run as the convolution's post-ops.
 *
 * The rewritten graph computes the same function in evaluation mode; training it would train the folded
 * weights, not the original ones, so it is for inference only.
 */
import {
  AttributeType,
  emptyAttribute,
  floatTensorProto,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-ir.js';

/** The domain of the nodes only convnets runs. */
export const CONVNETS_DOMAIN = 'ai.convnets';

const isDefault = (node: NodeProto, opType: string) =>
  node.opType === opType && (node.domain === '' || node.domain === 'ai.onnx');

/** How many times each value is read: by nodes, and once more if it is a graph output. */
function useCounts(nodes: readonly NodeProto[], outputs: readonly string[]): Map<string, number> {
  const uses = new Map<string, number>();
  const use = (name: string) => uses.set(name, (uses.get(name) ?? 0) + 1);
  for (const node of nodes) node.input.filter((n) => n !== '').forEach(use);
  outputs.forEach(use);
  return uses;
}

/** The float values of an initialiser, or null when the name is not a float initialiser. */
function floats(initialisers: Map<string, TensorProto>, name: string): Float32Array | null {
  const t = initialisers.get(name);
  if (t === undefined) return null;
  const array = t.values(`initialiser '${name}'`);
  return array.kind === 'float' ? array.values : null;
}

class Rewriter {
  readonly initialisers: Map<string, TensorProto>;
  nodes: NodeProto[];
  readonly #names: Set<string>;

  constructor(model: ModelProto) {
    const graph = model.graph;
    this.nodes = [...graph.node];
    this.initialisers = new Map(graph.initializer.map((t) => [t.name, t]));
    this.#names = new Set([
      ...this.initialisers.keys(),
      ...graph.input.map((i) => i.name),
      ...graph.node.flatMap((n) => n.output),
    ]);
  }

  /** `base`, or `base_1`, `base_2`… : a value name the graph does not use yet. */
  fresh(base: string): string {
    let name = base;
    for (let n = 1; this.#names.has(name); n++) name = `${base}_${n}`;
    this.#names.add(name);
    return name;
  }

  /** A new initialiser named after `base`; returns its name. */
  add(base: string, dims: readonly number[], values: Float32Array): string {
    const name = this.fresh(base);
    this.initialisers.set(name, floatTensorProto(name, dims, values));
    return name;
  }

  /** Replaces initialiser `name`'s values when only one node reads it, else adds a new one; returns its name. */
  replace(name: string, uses: Map<string, number>, dims: readonly number[], values: Float32Array): string {
    if (uses.get(name) !== 1) return this.add(name, dims, values);
    this.initialisers.set(name, floatTensorProto(name, dims, values));
    return name;
  }
}

function foldBatchNorms(r: Rewriter, outputs: readonly string[]): void {
  const uses = useCounts(r.nodes, outputs);
  const producers = new Map(r.nodes.map((node) => [node.output[0], node]));
  const removed = new Set<NodeProto>();
  for (const bn of r.nodes) {
    if (!isDefault(bn, 'BatchNormalization') || bn.output.filter((n) => n !== '').length !== 1) continue;
    const attribute = (name: string) => bn.attribute.find((a) => a.name === name);
    if ((attribute('training_mode')?.i ?? 0) !== 0 || (attribute('spatial')?.i ?? 1) !== 1) continue;
    const conv = producers.get(bn.input[0]);
    if (conv === undefined || !isDefault(conv, 'Conv') || uses.get(bn.input[0]) !== 1) continue;
    const [scale, beta, mean, variance] = bn.input.slice(1, 5).map((n) => floats(r.initialisers, n));
    const w = floats(r.initialisers, conv.input[1]);
    const hasBias = (conv.input[2] ?? '') !== '';
    const b = hasBias ? floats(r.initialisers, conv.input[2]) : null;
    if (!scale || !beta || !mean || !variance || !w || (hasBias && !b)) continue;
    const channels = scale.length;
    if (w.length % channels !== 0 || [beta, mean, variance].some((v) => v.length !== channels)) continue;
    const epsilon = attribute('epsilon')?.f ?? 1e-5;
    const perChannel = w.length / channels;
    const folded = new Float32Array(w.length);
    const bias = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const s = scale[c] / Math.sqrt(variance[c] + epsilon);
      for (let i = c * perChannel; i < (c + 1) * perChannel; i++) folded[i] = w[i] * s;
      bias[c] = ((b?.[c] ?? 0) - mean[c]) * s + beta[c];
    }
    const wDims = r.initialisers.get(conv.input[1])!.dims;
    conv.input = [
      conv.input[0],
      r.replace(conv.input[1], uses, wDims, folded),
      hasBias
        ? r.replace(conv.input[2], uses, [channels], bias)
        : r.add(conv.input[1].replace(/weight$/, 'bias'), [channels], bias),
    ];
    conv.output = [bn.output[0]];
    removed.add(bn);
  }
  r.nodes = r.nodes.filter((node) => !removed.has(node));
}

function fuseIntoConvs(r: Rewriter, outputs: readonly string[]): void {
  const uses = useCounts(r.nodes, outputs);
  const consumers = new Map<string, number>();
  r.nodes.forEach((node, i) => node.input.forEach((name) => consumers.set(name, i)));
  const replaced = new Map<number, NodeProto>();
  const removed = new Set<number>();
  // The only reader of a value, or -1 (several readers, a graph output, or a node already merged).
  const soleReader = (name: string) => {
    const reader = uses.get(name) === 1 ? (consumers.get(name) ?? -1) : -1;
    // An Add both of whose operands are convolutions merges into the first only.
    return removed.has(reader) || replaced.has(reader) ? -1 : reader;
  };
  r.nodes.forEach((conv, i) => {
    if (!isDefault(conv, 'Conv') || r.initialisers.get(conv.input[1])?.dims.length !== 4) return;
    // The nodes merged into the convolution: itself, then an Add, a Relu or both.
    const merged = [i];
    let out = conv.output[0];
    let sum: string | null = null;
    let relu = false;
    let next = soleReader(out);
    if (next > i && isDefault(r.nodes[next], 'Add') && r.nodes[next].input.length === 2) {
      const other = r.nodes[next].input.find((name) => name !== out);
      if (other !== undefined && other !== '') {
        sum = other;
        merged.push(next);
        out = r.nodes[next].output[0];
        next = soleReader(out);
      }
    }
    if (next > i && isDefault(r.nodes[next], 'Relu')) {
      relu = true;
      merged.push(next);
      out = r.nodes[next].output[0];
    }
    if (merged.length === 1) return;
    const activation: AttributeProto[] = relu
      ? [{ ...emptyAttribute('activation', AttributeType.STRING), s: new TextEncoder().encode('Relu') }]
      : [];
    // It runs where the last merged node ran: the sum's other operand is computed by then.
    const at = merged.pop()!;
    merged.forEach((j) => removed.add(j));
    replaced.set(at, {
      name: conv.name,
      opType: 'FusedConv',
      domain: CONVNETS_DOMAIN,
      input: [conv.input[0], conv.input[1], conv.input[2] ?? '', ...(sum === null ? [] : [sum])],
      output: [out],
      attribute: [...conv.attribute, ...activation],
    });
  });
  r.nodes = r.nodes.flatMap((node, i) => (removed.has(i) ? [] : [replaced.get(i) ?? node]));
}

/**
 * The model with BatchNormalization folded into convolutions and sums and ReLUs fused into them (see above).
 * Initialisers nothing reads any more are dropped. The input model is not changed.
 */
export function optimizeGraph(model: ModelProto): ModelProto {
  const graph = model.graph;
  const outputs = graph.output.map((o) => o.name);
  const r = new Rewriter({ ...model, graph: { ...graph, node: graph.node.map((n) => ({ ...n })) } });
  foldBatchNorms(r, outputs);
  fuseIntoConvs(r, outputs);
  const read = new Set(r.nodes.flatMap((n) => n.input));
  const initializer = [...r.initialisers.values()].filter((t) => read.has(t.name));
  const kept = new Set(initializer.map((t) => t.name));
  const fused = r.nodes.some((n) => n.domain === CONVNETS_DOMAIN);
  return {
    ...model,
    opsetImport: [
      ...model.opsetImport.filter((o) => o.domain !== CONVNETS_DOMAIN),
      ...(fused ? [{ domain: CONVNETS_DOMAIN, version: 1 }] : []),
    ],
    graph: {
      ...graph,
      node: r.nodes,
      initializer,
      // Old IR versions list initialisers among the inputs too.
      input: graph.input.filter((i) => kept.has(i.name) || !r.initialisers.has(i.name)),
    },
  };
}
