/**
 * The page's training, in a module Web Worker so that the page stays responsive: LeNet-5 on the shipped
 * Fashion-MNIST subset with SGD, one step at a time, yielding between steps so that a stop message gets in.
 */
import {
  crossEntropy,
  getBackend,
  io,
  loadWasmBackend,
  manualSeed,
  models,
  noGrad,
  optim,
  scope,
  setBackend,
  tensor,
  type Tensor,
  wasmThreadsUnavailableReason,
} from '../browser.js';
import { checkpointMetadata, imageValues, loadSubset, type ImageSet } from './assets.js';
import { prepare } from './preprocess.js';
import { LENET5_META, type FromWorker, type ToWorker } from './train-protocol.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
}
const worker = self as unknown as WorkerScope;
const base = new URL('./', import.meta.url);
let stopRequested = false;

/**
 * The wasm backend where it loads, on a pool of workers (one per core, up to 4) where the page is cross-origin
 * isolated, else the reference backend, and a line saying which and why.
 */
async function chooseBackend(): Promise<string> {
  try {
    await loadWasmBackend(new URL('convnets.wasm', base), {
      threads: Math.min(4, Math.max(1, navigator.hardwareConcurrency || 1)),
      threadedSource: new URL('convnets-threads.wasm', base),
      workerUrl: new URL('wasm-thread.js', base),
      relaxedSource: new URL('convnets-relaxed.wasm', base),
      relaxedThreadedSource: new URL('convnets-relaxed-threads.wasm', base),
    });
    const backend = setBackend('wasm');
    const kernels = backend.describe().details.kernels.split(' (')[0];
    if (backend.threads > 1) return `${kernels}, ${backend.threads} threads`;
    return `${kernels}, one thread (${wasmThreadsUnavailableReason() ?? 'one core'})`;
  } catch (error) {
    setBackend('reference');
    return `the wasm backend did not load (${(error as Error).message}); plain JavaScript instead`;
  }
}

/** Every image of a set prepared for LeNet-5, [N, 1, 32, 32] values, and the labels as int32. */
function prepared(set: ImageSet): { inputs: Float32Array; labels: Int32Array; size: number } {
  const images = Array.from({ length: set.count }, (_, i) => imageValues(set, i));
  const batch = prepare(images, LENET5_META.transform as never);
  const inputs = Float32Array.from(batch.data());
  batch.dispose();
  return {
    inputs,
    labels: Int32Array.from(set.labels.subarray(0, set.count)),
    size: inputs.length / set.count,
  };
}

function accuracyOf(logits: Tensor, labels: Int32Array): number {
  const values = logits.data();
  const classes = logits.shape[1];
  let correct = 0;
  labels.forEach((label, n) => {
    const row = values.subarray(n * classes, (n + 1) * classes);
    if (row.indexOf(Math.max(...row)) === label) correct++;
  });
  return correct / labels.length;
}

/** A Fisher–Yates shuffle of 0…n−1 from a small seeded generator (mulberry32). */
function shuffled(n: number, seed: number): Int32Array {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

async function train(run: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const note = await chooseBackend();
  worker.postMessage({ type: 'backend', name: getBackend().name, threads: getBackend().threads, note });
  const subset = await loadSubset(base);
  if (typeof subset === 'string') throw new Error(subset);
  const trainSet = prepared(subset.train);
  const testSet = prepared(subset.test);
  manualSeed(run.seed);
  const model = models.get('lenet5', { ...LENET5_META.modelOptions, seed: run.seed });
  const optimizer = optim.sgd(model.parameters(), { lr: run.lr, momentum: 0.9 });
  const testInputs = tensor(testSet.inputs, [subset.test.count, 1, 32, 32]);
  const testAccuracy = () => {
    model.eval();
    const accuracy = noGrad(() => scope(() => accuracyOf(model.call(testInputs), testSet.labels)));
    model.train();
    return accuracy;
  };
  const perEpoch = Math.floor(subset.train.count / run.batchSize);
  let order = shuffled(subset.train.count, run.seed);
  let step = 0;
  while (step < run.steps && !stopRequested) {
    const position = step % perEpoch;
    if (position === 0 && step > 0) order = shuffled(subset.train.count, run.seed + step);
    const indices = order.subarray(position * run.batchSize, (position + 1) * run.batchSize);
    const inputs = new Float32Array(indices.length * trainSet.size);
    indices.forEach((index, i) =>
      inputs.set(
        trainSet.inputs.subarray(index * trainSet.size, (index + 1) * trainSet.size),
        i * trainSet.size,
      ),
    );
    const labels = Int32Array.from(indices, (index) => trainSet.labels[index]);
    const { loss, accuracy } = scope(() => {
      optimizer.zeroGrad();
      const logits = model.call(tensor(inputs, [indices.length, 1, 32, 32]));
      const lossTensor = crossEntropy(logits, tensor(labels, [labels.length], { dtype: 'int32' }));
      lossTensor.backward();
      optimizer.step();
      return { loss: lossTensor.item(), accuracy: accuracyOf(logits, labels) };
    });
    step++;
    const evaluate = step % 25 === 0 || step === run.steps;
    worker.postMessage({
      type: 'step',
      step,
      loss,
      accuracy,
      ...(evaluate ? { testAccuracy: testAccuracy() } : {}),
    });
    // Lets the stop message in between steps.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const epochs = Math.max(1, Math.round(step / perEpoch));
  const bytes = io.encodeSafetensors(
    model.stateDict(),
    checkpointMetadata(
      { ...LENET5_META, classNames: subset.classNames, trainedIn: 'convnets page', steps: step },
      epochs,
    ),
  );
  const weights = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  worker.postMessage({ type: 'done', steps: step, weights, stopped: stopRequested }, [weights]);
}

worker.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'stop') stopRequested = true;
  else
    train(message).catch((error: unknown) =>
      worker.postMessage({ type: 'error', message: (error as Error).message }),
    );
};
