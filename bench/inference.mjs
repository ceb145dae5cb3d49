// Workload 2: inference at 224×224×3, batch 1 (latency) and batch 8 (throughput), on convnets' native backend and on
// onnxruntime-node running the ONNX file convnets exports from the very same model and weights (docs: bench/README.md).
/* global performance */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { inferenceFigure, log, root, threads, timed, timedAsync } from './common.mjs';

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

/**
 * convnets' figures for each model and batch, and the ONNX files of the same models and weights (exported as each
 * model is measured, so that each is built once).
 */
export async function convnetsInference(models) {
  const convnets = await import(join(root, 'dist/src/index.js'));
  convnets.setBackend('native');
  const key = buildKey(convnets);
  const results = {};
  const onnxFiles = {};
  for (const name of models) {
    const { macs } = convnets.models.info(name);
    const net = convnets.models.get(name, { seed: 1 }).eval();
    results[name] = {};
    onnxFiles[name] = {};
    for (const batch of BATCHES) {
      // What a user runs for inference: the model traced at this shape, BatchNorm folded into the convolutions,
      // residual sums and ReLUs fused into them (convnets.optimizeForInference).
      const model = convnets.optimizeForInference(net, inputShapeAt(batch));
      const x = convnets.randn(inputShapeAt(batch));
      // Reading the output makes sure the work is finished.
      const infer = () => convnets.noGrad(() => convnets.scope(() => model.call(x).data()));
      const figure = inferenceFigure(timed(infer), batch, macs);
      x.dispose();
      release(model);
      results[name][`batch${batch}`] = figure;
      log(
        `  convnets infer ${name} batch ${batch}: ${figure.ms.toFixed(1)} ms, ${figure.imagesPerSecond.toFixed(1)} images/s`,
      );
      if (!onnxruntimeInstalled()) continue;
      try {
        onnxFiles[name][`batch${batch}`] = { path: await onnxFile(convnets, key, name, batch, net) };
      } catch (error) {
        onnxFiles[name][`batch${batch}`] = { skipped: `exportOnnx failed: ${error.message}` };
        log(`  exportOnnx ${name} batch ${batch} failed: ${error.message}`);
      }
    }
    release(net);
  }
  return { results, onnxFiles };
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

/** onnxruntime-node's figures on convnets' exports, one session at a time, each released before the next. */
export async function onnxruntimeInference(onnxFiles, macsOf) {
  const { ort, skipped } = await loadOnnxruntime();
  if (skipped) return { skipped };
  const result = { version: ort.env.versions?.node ?? 'unknown', threads, files: {}, infer: {} };
  const options = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  for (const [name, files] of Object.entries(onnxFiles)) {
    result.infer[name] = {};
    result.files[name] = {};
    for (const batch of BATCHES) {
      const file = files[`batch${batch}`];
      if (file.skipped) {
        result.infer[name][`batch${batch}`] = { skipped: file.skipped };
        continue;
      }
      result.files[name][`batch${batch}`] = relative(root, file.path);
      let session;
      try {
        session = await ort.InferenceSession.create(file.path, options);
        const size = inputShapeAt(batch).reduce((a, b) => a * b);
        const values = Float32Array.from({ length: size }, () => Math.random() - 0.5);
        const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', values, inputShapeAt(batch)) };
        const infer = () => session.run(feeds);
        const figure = inferenceFigure(await timedAsync(infer), batch, macsOf(name));
        result.infer[name][`batch${batch}`] = figure;
        log(
          `  ORT infer ${name} batch ${batch}: ${figure.ms.toFixed(1)} ms, ${figure.imagesPerSecond.toFixed(1)} images/s`,
        );
      } catch (error) {
        result.infer[name][`batch${batch}`] = { skipped: `onnxruntime-node failed: ${error.message}` };
        log(`  ORT infer ${name} batch ${batch} failed: ${error.message}`);
      } finally {
        await session?.release();
      }
    }
  }
  return result;
}
