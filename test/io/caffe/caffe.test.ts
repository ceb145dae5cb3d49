import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../../src/errors.js';
import { decodeCaffe, decodeCaffemodel, loadCaffe, parsePrototxt } from '../../../src/io/index.js';
import { noGrad, tensor, type Tensor } from '../../../src/tensor/index.js';

const dir = new URL('../../../../test/fixtures/caffe/', import.meta.url).pathname;
const prototxt = readFileSync(`${dir}tiny.prototxt`, 'utf8');
const caffemodel = (name = 'tiny.caffemodel') => new Uint8Array(readFileSync(`${dir}${name}`));

interface Array {
  shape: number[];
  data: number[];
}
const expected = JSON.parse(readFileSync(`${dir}tiny.json`, 'utf8')) as {
  input: Array;
  outputs: Record<string, Array>;
  bn1: Record<string, number[]>;
};

function assertClose(actual: Tensor, want: Array, what: string, tolerance = 2e-5): void {
  assert.deepEqual(actual.shape, want.shape, what);
  const values = actual.data();
  for (let i = 0; i < values.length; i++) {
    const diff = Math.abs(values[i] - want.data[i]);
    assert.ok(
      diff <= tolerance * (1 + Math.abs(want.data[i])),
      `${what}[${i}]: ${values[i]} vs ${want.data[i]}`,
    );
  }
}

for (const file of ['tiny.caffemodel', 'tiny-v1.caffemodel']) {
  test(`a prototxt and ${file} give PyTorch's outputs on the same weights (every layer type, three outputs)`, async () => {
    const model = await loadCaffe(`${dir}tiny.prototxt`, `${dir}${file}`);
    model.eval();
    assert.deepEqual(
      model.outputs.map((o) => o.name),
      ['prob', 'poolb', 'poolc'],
    );
    const outputs = noGrad(() =>
      model.run(tensor(Float32Array.from(expected.input.data), expected.input.shape)),
    );
    for (const [name, want] of Object.entries(expected.outputs))
      assertClose(outputs.get(name) as Tensor, want, name);
  });
}

test("BatchNorm + Scale fold into one BatchNorm named after the BatchNorm, with Caffe's statistics divided by the factor", () => {
  const model = decodeCaffe(prototxt, caffemodel());
  const state = model.stateDict();
  for (const [key, values] of Object.entries(expected.bn1)) {
    const t = state.get(`bn1.${key}`);
    assert.ok(t !== undefined, `bn1.${key}`);
    assertClose(t, { shape: [8], data: values }, `bn1.${key}`, 1e-6);
  }
  // The Scale layer after a BatchNorm leaves no tensors of its own; one standing alone keeps its own.
  assert.deepEqual(
    [...state.keys()].filter((k) => k.startsWith('scale')),
    ['scale2b.weight', 'scale2b.bias'],
  );
  // A BatchNorm with no Scale: gamma 1, beta 0.
  assert.deepEqual(Array.from(state.get('bn2a.weight')?.data() ?? []), new Array(8).fill(1));
});

test('the caffemodel reader gives each layer its blobs, shapes from BlobShape or the legacy 4-D dims', () => {
  const current = decodeCaffemodel(caffemodel());
  const v1 = decodeCaffemodel(caffemodel('tiny-v1.caffemodel'));
  assert.equal(current.name, 'Tiny');
  assert.deepEqual(
    current.layers.map((l) => `${l.name}:${l.type}:${l.blobs.length}`),
    [
      'relu1:ReLU:0',
      'conv1:Convolution:2',
      'bn1:BatchNorm:3',
      'scale1:Scale:2',
      'conv2a:Convolution:1',
      'bn2a:BatchNorm:3',
      'conv2b:Convolution:2',
      'scale2b:Scale:2',
      'fc:InnerProduct:2',
    ],
  );
  assert.deepEqual(current.layers[1].blobs[0].shape, [8, 3, 3, 3]);
  assert.deepEqual(current.layers[1].blobs[1].shape, [8]);
  assert.deepEqual(v1.layers[0].type, 'Convolution');
  assert.deepEqual(v1.layers[0].blobs[1].shape, [1, 1, 1, 8]);
  assert.deepEqual(v1.layers.at(-1)?.blobs[0].shape, [1, 1, 5, 216]);
  assert.deepEqual(Array.from(v1.layers[0].blobs[0].data), Array.from(current.layers[1].blobs[0].data));
});

test('the prototxt parser: nesting, repeated fields and lists, strings with escapes, numbers, enums, comments', () => {
  const parsed = parsePrototxt(`
    name: "a\\"b\\x41\\101\\n" 'c'  # adjacent strings join
    dim: [1, -2.5e1, 0x10] dim: 3f
    pool: MAX
    inner < k: inf other { } >; flag: true
  `);
  assert.deepEqual(JSON.parse(JSON.stringify(parsed)), {
    name: ['a"bAA\nc'],
    dim: [1, -25, 16, 3],
    pool: ['MAX'],
    inner: [{ k: [null], other: [{}] }],
    flag: ['true'],
  });
  assert.equal((parsed.inner[0] as { k: number[] }).k[0], Infinity);
});

test('malformed prototxt is a FormatError naming the line and column', () => {
  const cases: [string, RegExp][] = [
    ['layer {\n  name: "x"\n', /line 3, column 1: the text ends inside a message/],
    ['name: "open', /line 1, column 7: unterminated string/],
    ['a: 1 }', /line 1, column 6: expected a field name/],
    ['a 1', /line 1, column 1: field 'a': expected ':' or '{'/],
    ['a: [1, 2', /expected '\]' closing the list of 'a'/],
    ['a: "\\q"', /bad escape/],
    ['[ext]: 1', /extension/],
    ['a { '.repeat(100), /nested deeper than 64/],
  ];
  for (const [text, message] of cases)
    assert.throws(
      () => parsePrototxt(text),
      (e: Error) => e instanceof FormatError && message.test(e.message),
      text,
    );
});

test('what convnets does not build, and blobs that do not fit, are FormatErrors naming the layer', () => {
  const withLayer = (layer: string) =>
    prototxt.replace('layer {\n  name: "conv1"', `${layer}\nlayer {\n  name: "conv1"`);
  const cases: [string, RegExp][] = [
    [
      withLayer('layer { name: "odd" type: "Deconvolution" bottom: "data" top: "odd" }'),
      /layer 'odd': type 'Deconvolution' is not one convnets builds/,
    ],
    [
      prototxt.replace('num_output: 8 kernel_size: 3', 'num_output: 4 kernel_size: 3'),
      /layer 'conv1' \(Convolution\): weight \(blob 0\) has shape \[8, 3, 3, 3\], 216 values; expected \[4, 3, 3, 3\]/,
    ],
    [
      prototxt.replace('name: "fc"', 'name: "fc_renamed"'),
      /layer 'fc_renamed' \(InnerProduct\): has no blobs in the caffemodel/,
    ],
    [
      prototxt.replace('bottom: "pool1"\n  top: "conv2a"', 'bottom: "nowhere"\n  top: "conv2a"'),
      /layer 'conv2a' \(Convolution\): bottom 'nowhere' is not produced before it/,
    ],
    [
      prototxt.replace('pool: MAX kernel_size: 3', 'pool: STOCHASTIC kernel_size: 3'),
      /layer 'pool1' \(Pooling\) pooling_param: STOCHASTIC pooling is not built/,
    ],
    [
      prototxt.replace('input_param { shape: { dim: 2 dim: 3 dim: 10 dim: 10 } }', ''),
      /input_param has 0 shapes for 1 tops/,
    ],
    [prototxt.replace('lrn_param { local_size: 3', 'lrn_param { local_size: 4'), /local_size 4 must be odd/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => decodeCaffe(text, caffemodel()),
      (e: Error) => e instanceof FormatError && message.test(e.message),
      message.source,
    );
  }
});

test('a malformed caffemodel is a FormatError naming the message and field', () => {
  assert.throws(() => decodeCaffemodel(new Uint8Array(0)), /not a Caffe model: NetParameter has no layers/);
  const bytes = caffemodel();
  assert.throws(
    () => decodeCaffemodel(bytes.subarray(0, bytes.length - 3)),
    /^FormatError: Caffe NetParameter/,
  );
});
