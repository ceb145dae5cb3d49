// Inference graph rewrites (optimizeGraph, optimizeForInference, importOnnx's optimize option): the rewritten graph
// has the expected nodes and computes what the model computes in evaluation mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONVNETS_DOMAIN,
  buildOnnxModel,
  decodeOnnx,
  encodeOnnx,
  optimizeForInference,
  optimizeGraph,
} from '../../src/io/onnx/index.js';
import type { ModelProto } from '../../src/graph/onnx-ir.js';
import { decodeModelProto } from '../../src/io/onnx/proto.js';
import * as models from '../../src/models/index.js';
import { BatchNorm2d, Conv2d, Module } from '../../src/nn/index.js';
import { Generator, add, noGrad, randn, relu, type Tensor } from '../../src/tensor/index.js';
import { assertClose, randomiseBatchNorms } from './helpers.js';

const opTypes = (model: ModelProto) =>
  model.graph.node.map((n) => n.opType).filter((op) => op !== 'Constant');
const count = (ops: string[], op: string) => ops.filter((o) => o === op).length;

function outputsAgree(net: Module, shape: number[], what: string): void {
  const x = randn(shape, { generator: new Generator(3) });
  const expected = noGrad(() => net.call(x)).data();
  const fast = optimizeForInference(net, shape);
  assertClose(noGrad(() => fast.call(x)).data(), expected, 1e-4, what);
}

test('resnet18: every BatchNorm folded, every ReLU and residual sum fused, same outputs', () => {
  const net = randomiseBatchNorms(models.resnet18({ seed: 1 }), 2);
  const ops = opTypes(optimizeGraph(buildOnnxModel(net, [1, 3, 64, 64])));
  // The stem and each block's first convolution take their ReLU; each block's second one its sum and ReLU;
  // the three projection shortcuts keep a plain Conv (the sum went to the block's convolution).
  assert.equal(count(ops, 'FusedConv'), 1 + 8 * 2);
  assert.equal(count(ops, 'Conv'), 3);
  for (const op of ['BatchNormalization', 'Relu', 'Add']) assert.equal(count(ops, op), 0, op);
  outputsAgree(net, [1, 3, 64, 64], 'resnet18');
});

test('CIFAR resnet20 (option A shortcuts) and googlenet give the same outputs optimised', () => {
  outputsAgree(randomiseBatchNorms(models.resnet20({ seed: 4 }), 5), [2, 3, 32, 32], 'resnet20');
  const googlenet = randomiseBatchNorms(models.googlenet({ seed: 6, auxLogits: false }), 7);
  const ops = opTypes(optimizeGraph(buildOnnxModel(googlenet, [1, 3, 64, 64])));
  assert.equal(count(ops, 'BatchNormalization'), 0);
  assert.equal(count(ops, 'FusedConv'), 57);
  outputsAgree(googlenet, [1, 3, 64, 64], 'googlenet');
});

/** A convolution whose output is read twice, one whose output is the graph's, and a sum that broadcasts. */
class Unfusable extends Module {
  readonly a = new Conv2d(3, 4, 3, { padding: 1 });
  readonly b = new Conv2d(4, 4, 1);
  readonly c = new Conv2d(4, 4, 1);
  readonly shift = randn([4, 1, 1], { generator: new Generator(8) });
  forward(x: Tensor): Tensor {
    const y = this.a.call(x);
    const twice = add(relu(y), y);
    const broadcast = relu(add(this.b.call(twice), this.shift));
    return this.c.call(broadcast);
  }
}

test('no fusion where the output is read twice or is the graph output; a broadcast sum still runs', () => {
  const net = new Unfusable().eval();
  const model = optimizeGraph(buildOnnxModel(net, [2, 3, 8, 8]));
  const nodes = model.graph.node.filter((n) => n.opType !== 'Constant');
  assert.deepEqual(
    nodes.map((n) => n.opType),
    ['Conv', 'Relu', 'Add', 'FusedConv', 'Conv'],
  );
  // The broadcast shift is the FusedConv's sum: the kernel adds it after the convolution.
  assert.equal(nodes[3].input.length, 4);
  assert.equal(nodes[3].domain, CONVNETS_DOMAIN);
  outputsAgree(net, [2, 3, 8, 8], 'unfusable');
});

/** Two convolutions sharing one weight, each followed by its own BatchNorm. */
class SharedWeight extends Module {
  readonly conv = new Conv2d(3, 5, 3, { bias: false });
  readonly bn1 = new BatchNorm2d(5);
  readonly bn2 = new BatchNorm2d(5);
  forward(x: Tensor): Tensor {
    return add(this.bn1.call(this.conv.call(x)), this.bn2.call(this.conv.call(x)));
  }
}

test('a weight two BatchNorms fold into is copied, not overwritten', () => {
  const net = randomiseBatchNorms(new SharedWeight(), 9);
  const model = optimizeGraph(buildOnnxModel(net, [1, 3, 6, 6]));
  const convs = model.graph.node.filter((n) => n.opType === 'Conv' || n.opType === 'FusedConv');
  assert.equal(convs.length, 2);
  assert.notEqual(convs[0].input[1], convs[1].input[1]);
  assert.ok(!model.graph.initializer.some((t) => t.name.includes('running')), 'statistics dropped');
  outputsAgree(net, [1, 3, 6, 6], 'shared weight');
});

test('importOnnx optimize option, and an optimised model exports back to standard operators', () => {
  const net = randomiseBatchNorms(models.resnet20({ seed: 10 }), 11);
  const shape = [1, 3, 32, 32];
  const x = randn(shape, { generator: new Generator(12) });
  const bytes = encodeOnnx(net, shape);
  const expected = noGrad(() => net.call(x)).data();
  const optimised = decodeOnnx(bytes, { optimize: true }).eval();
  assertClose(noGrad(() => optimised.call(x)).data(), expected, 1e-4, 'imported with optimize');
  const reexported = encodeOnnx(optimised, shape);
  const ops = opTypes(decodeModelProto(reexported));
  assert.ok(!ops.includes('FusedConv') && !ops.includes('BatchNormalization'), ops.join());
  assert.ok(ops.includes('Add') && ops.includes('Relu'));
  assertClose(noGrad(() => decodeOnnx(reexported).call(x)).data(), expected, 1e-4, 're-exported');
});
