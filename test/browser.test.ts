// The browser entry (convnets/browser) bundled for a browser: nothing of Node and not the addon in it, and the bundle
// runs where Node's globals are absent, computing what the library computes under Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import { build, type BuildResult, type Plugin } from 'esbuild';
import * as convnets from '../src/browser.js';

const browserEntry = fileURLToPath(new URL('../src/browser.js', import.meta.url));
const nodeEntry = fileURLToPath(new URL('../src/index.js', import.meta.url));

/** Marks Node's built-in modules external instead of failing on them, so the metafile names every importer. */
const nodeBuiltins: Plugin = {
  name: 'node-builtins',
  setup(build) {
    const names = new Set(builtinModules);
    build.onResolve({ filter: /.*/ }, (args) =>
      args.path.startsWith('node:') || names.has(args.path.split('/')[0])
        ? { path: args.path, external: true }
        : undefined,
    );
  },
};

async function bundle(
  entry: string,
  format: 'esm' | 'iife',
): Promise<BuildResult<{ metafile: true; write: false }>> {
  return build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format,
    globalName: 'convnets',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [nodeBuiltins],
  });
}

/** "file imports module" for every import of a Node built-in, and every input from the native backend. */
function nodeParts(result: BuildResult<{ metafile: true }>): string[] {
  return Object.entries(result.metafile.inputs).flatMap(([file, input]) => [
    ...input.imports.filter((i) => i.external).map((i) => `${file} imports ${i.path}`),
    ...(/backend\/native\/|\.node$/.test(file) ? [`${file} is the native backend`] : []),
  ]);
}

test('the browser entry bundles for a browser with no node: import and no native backend in it', async () => {
  const result = await bundle(browserEntry, 'esm');
  assert.deepEqual(nodeParts(result), []);
  const inputs = Object.keys(result.metafile.inputs);
  for (const part of [
    'backend/reference/index.js',
    'models/inception.js',
    'data/transforms/build.js',
    'graph/model.js',
  ]) {
    assert.ok(
      inputs.some((file) => file.endsWith(part)),
      `${part} is in the bundle`,
    );
  }
  // The same check finds the Node parts of the Node entry, so it can fail.
  const node = nodeParts(await bundle(nodeEntry, 'esm'));
  assert.ok(
    node.some((line) => line.endsWith('backend/native/addon.js imports node:module')),
    node.join('\n'),
  );
  assert.ok(
    node.some((line) => /data\/pool\.js imports node:worker_threads$/.test(line)),
    node.join('\n'),
  );
});

/** LeNet-5's logits for a seeded batch, its summary's parameter count and a flipped batch, by the library `c`. */
function computeWith(c: typeof convnets) {
  const net = c.models.lenet5({ seed: 3 }).eval();
  c.manualSeed(7);
  const x = c.randn([2, 1, 32, 32]);
  const logits = c.noGrad(() => net.call(x));
  // The graph runtime: the model traced into an ONNX graph and run by OnnxModel.
  const replayed = c.noGrad(() => new c.graph.OnnxModel(c.graph.buildOnnxModel(net, x.shape)).call(x));
  const dataset = c.data.arrayDataset(Float32Array.of(0, 0.25, 0.5, 1, 2, 3, 4, 5), [1, 0], [1, 2, 2]);
  const flip = c.data.transforms.makeTransform(c.data.transforms.randomHorizontalFlip(1));
  const flipped = flip(c.data.chwImage(dataset.get(0).image, 1, 2, 2), new c.Generator(1));
  // The safetensors format as bytes, both ways: a page's fetched weights in, its trained weights out.
  const bytes = c.io.encodeSafetensors({ logits }, { format: 'test' });
  const decoded = c.io.decodeSafetensors(bytes);
  return {
    backend: c.getBackend().name,
    safetensors: { metadata: decoded.metadata, logits: Array.from(decoded.tensors.get('logits')!.data()) },
    logits: Array.from(logits.data()),
    graphLogits: Array.from(replayed.data()),
    parameters: c.summary(net, [1, 1, 32, 32]).totals.parameters,
    flipped: Array.from(c.data.toBatch(flipped).data()),
  };
}

test('the bundle runs without Node globals and computes what the library computes under Node', async () => {
  const [bundled] = (await bundle(browserEntry, 'iife')).outputFiles;
  // A fresh realm: JavaScript's built-ins and the Web APIs every browser has that the library uses (TextDecoder,
  // TextEncoder: the graph runtime's strings), no process, Buffer or require; no SharedArrayBuffer either, as in a
  // page without cross-origin isolation.
  const warnings: unknown[] = [];
  const realm = createContext({
    console: { warn: (...args: unknown[]) => warnings.push(args) },
    TextDecoder,
    TextEncoder,
  });
  runInContext('delete globalThis.SharedArrayBuffer', realm);
  runInContext(bundled.text, realm);
  assert.equal(
    runInContext('typeof process + typeof Buffer + typeof SharedArrayBuffer', realm),
    'undefinedundefinedundefined',
  );
  const compute = runInContext(`(${computeWith.toString()})`, realm) as typeof computeWith;
  // Through JSON: the realm's arrays have its own Array.prototype, which deepStrictEqual tells apart.
  const inBrowser = JSON.parse(
    JSON.stringify(compute(runInContext('convnets', realm) as typeof convnets)),
  ) as ReturnType<typeof computeWith>;
  // On the browser bundle's backend, whichever the suite runs on: the values must agree exactly.
  const inNode = convnets.withBackend('reference', () => computeWith(convnets));

  assert.equal(inBrowser.backend, 'reference');
  assert.deepEqual(warnings, []);
  assert.equal(inBrowser.parameters, 61_706, "LeNet-5's registered parameter count");
  assert.deepEqual(inBrowser.flipped, [0.25, 0, 1, 0.5]);
  assert.equal(inBrowser.logits.length, 20);
  assert.deepEqual(inBrowser.safetensors, { metadata: { format: 'test' }, logits: inBrowser.logits });
  inBrowser.graphLogits.forEach((value, i) =>
    assert.ok(
      Math.abs(value - inBrowser.logits[i]) <= 1e-5,
      `graph output ${i}: ${value} vs ${inBrowser.logits[i]}`,
    ),
  );
  assert.ok(inBrowser.logits.every(Number.isFinite));
  assert.deepEqual(inBrowser, { ...inNode, backend: 'reference' });
});
