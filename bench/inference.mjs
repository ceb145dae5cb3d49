// Workload 2: inference at 224×224×3, batch 1 (latency) and batch 8 (throughput), on convnets' native backend and on
// onnxruntime-node running the ONNX file convnets exports from the very same model and weights (docs: bench/README.md).
/* global performance */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { inferenceFigure, interleaved, log, root, threads } from './common.mjs';

export const BATCHES = [1, 8];
const inputShapeAt = (batch) => [batch, 3, 224, 224];
const onnxDir = join(root, 'build/bench/onnx');

/** Whether bench/node_modules holds onnxruntime-node (bench/package.json): without it, nothing is exported. */
const onnxruntimeInstalled = () => existsSync(join(root, 'bench/node_modules/onnxruntime-node/package.json'));

/** Releases a model's weights now rather than at garbage collection (VGG-16 holds 553 MB). */
function release(module) {
  for (const t of [...module.parameters(), ...module.buffers()]) t.dispose();
}

/** A hash of the built library (dist/src): a cached export is reused only while the exporter and models are unchanged. */
function buildKey(convnets) {
  const hash = createHash('sha256').update(convnets.version);
  const files = readdirSync(join(root, 'dist/src'), { recursive: true }).filter((f) => f.endsWith('.js'));
  for (const file of files.sort()) hash.update(file).update(readFileSync(join(root, 'dist/src', file)));
  return hash.digest('hex').slice(0, 12);
}

/** The .onnx file of model `name` at `batch`, exported from `net` unless this build already exported it. */
async function onnxFile(convnets, key, name, batch, net) {
  const file = `${name}-batch${batch}-${key}.onnx`;
  const path = join(onnxDir, file);
  if (existsSync(path)) return path;
  mkdirSync(onnxDir, { recursive: true });
  // Exports of older builds of the same model and batch: stale, and up to 553 MB each.
  for (const old of readdirSync(onnxDir)) {
    if (old.startsWith(`${name}-batch${batch}-`) && old !== file) unlinkSync(join(onnxDir, old));
  }
  const start = performance.now();
  await convnets.io.exportOnnx(net, inputShapeAt(batch), path);
  log(`  exported ${relative(root, path)} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return path;
}

/** onnxruntime-node, or the reason it cannot run. */
async function loadOnnxruntime() {
  if (!onnxruntimeInstalled()) {
    return {
      skipped:
        'onnxruntime-node not installed: run make bench or cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm ci',
    };
  }
  try {
    return { ort: await import('onnxruntime-node') };
  } catch (error) {
    return { skipped: `onnxruntime-node failed to load: ${error.message}` };
  }
}

const ortOptions = () => ({
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});

/**
 * An onnxruntime-node session on convnets' export of `net` at `batch`, and its inference call; or the reason
 * there is none (recorded for that figure only).
 */
async function ortRunner(ort, convnets, key, name, batch, net) {
  let path;
  try {
    path = await onnxFile(convnets, key, name, batch, net);
  } catch (error) {
    return { skipped: `exportOnnx failed: ${error.message}` };
  }
  try {
    const session = await ort.InferenceSession.create(path, ortOptions());
    const size = inputShapeAt(batch).reduce((a, b) => a * b);
    const values = Float32Array.from({ length: size }, () => Math.random() - 0.5);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', values, inputShapeAt(batch)) };
    return { session, file: relative(root, path), infer: () => session.run(feeds) };
  } catch (error) {
    return { skipped: `onnxruntime-node failed: ${error.message}` };
  }
}

/**
 * Workload 2 for convnets and onnxruntime-node: for each model and batch, both timed in alternating rounds
 * (`interleaved`), so that a disturbance of the shared machine falls on both alike. convnets runs what a user runs
 * for inference: the model traced at that shape, BatchNorm folded into the convolutions and residual sums and
 * ReLUs fused into them (convnets.optimizeForInference). ORT runs convnets' ONNX export of the same weights.
 */
export async function inference(models) {
  const convnets = await import(join(root, 'dist/src/index.js'));
  convnets.setBackend('native');
  const { ort, skipped } = await loadOnnxruntime();
  const key = buildKey(convnets);
  const mine = {};
  const theirs = skipped
    ? { skipped }
    : { version: ort.env.versions?.node ?? 'unknown', threads, files: {}, infer: {} };
  for (const name of models) {
    const { macs } = convnets.models.info(name);
    const net = convnets.models.get(name, { seed: 1 }).eval();
    mine[name] = {};
    if (ort) [theirs.infer[name], theirs.files[name]] = [{}, {}];
    for (const batch of BATCHES) {
      const model = convnets.optimizeForInference(net, inputShapeAt(batch));
      const x = convnets.randn(inputShapeAt(batch));
      // Reading the output makes sure the work is finished.
      const runners = { convnets: () => convnets.noGrad(() => convnets.scope(() => model.call(x).data())) };
      const peer = ort ? await ortRunner(ort, convnets, key, name, batch, net) : null;
      if (peer?.infer) runners.ort = peer.infer;
      const timings = await interleaved(runners);
      mine[name][`batch${batch}`] = inferenceFigure(timings.convnets, batch, macs);
      logFigure('convnets', name, mine[name][`batch${batch}`]);
      if (peer) {
        theirs.infer[name][`batch${batch}`] = peer.skipped
          ? { skipped: peer.skipped }
          : inferenceFigure(timings.ort, batch, macs);
        if (peer.skipped) log(`  ORT infer ${name} batch ${batch}: ${peer.skipped}`);
        else {
          theirs.files[name][`batch${batch}`] = peer.file;
          logFigure('ORT', name, theirs.infer[name][`batch${batch}`]);
        }
        await peer.session?.release();
      }
      x.dispose();
      release(model);
    }
    release(net);
  }
  return { convnets: mine, onnxruntime: theirs };
}

function logFigure(peer, name, figure) {
  log(
    `  ${peer} infer ${name} batch ${figure.batch}: ${figure.ms.toFixed(1)} ms, ${figure.imagesPerSecond.toFixed(1)} images/s`,
  );
}
