/**
 * A loader worker: rebuilds the dataset (sharing its memory) and the transform from plain descriptors, then
 * answers batch requests (a streamed dataset's files are read asynchronously, so several may be under way). Batches are plain arrays. The worker loads the core, never the Node entry,
 * so the native backend is not registered here: the addon stays on the main thread (DESIGN.md decision 10).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fetchBatch } from './batch.js';
// Registers the image-files dataset kind, which datasetFromSpec rebuilds only where Node is.
import './datasets/image-files.js';
import { datasetFromSpec } from './datasets/dataset.js';
import type { BatchRequest, BatchResponse, WorkerInit } from './protocol.js';
import { makeTransform } from './transforms/build.js';

const init = workerData as WorkerInit;
const dataset = datasetFromSpec(init.dataset);
const transform = init.transform ? makeTransform(init.transform) : undefined;
const port = parentPort!;

port.on('message', async (request: BatchRequest) => {
  let response: BatchResponse;
  try {
    response = {
      id: request.id,
      ...(await fetchBatch(dataset, transform, request.indices, request.seed, request.epoch)),
    };
  } catch (error) {
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    port.postMessage({ id: request.id, error: { name, message, stack } } satisfies BatchResponse);
    return;
  }
  // Transferred, not copied: the batch's buffers were made for this message.
  const transfer =
    'images' in response
      ? [response.images.buffer as ArrayBuffer, response.labels.buffer as ArrayBuffer]
      : [];
  port.postMessage(response, transfer);
});
