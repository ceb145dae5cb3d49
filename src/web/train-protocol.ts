/** The messages between the page and its training worker (train-worker.ts). */

/** Page → worker: start a run (once), or stop it after the step in progress. */
export type ToWorker =
  { type: 'start'; steps: number; batchSize: number; lr: number; seed: number } | { type: 'stop' };

/** Worker → page. */
export type FromWorker =
  | { type: 'backend'; name: string; threads: number; note: string }
  /** After a step: its loss and its batch's accuracy; every evaluation also the test subset's accuracy. */
  | { type: 'step'; step: number; loss: number; accuracy: number; testAccuracy?: number }
  /** The run ended (all steps, or stopped): the weights as a single-file checkpoint `convnets eval` reads. */
  | { type: 'done'; steps: number; weights: ArrayBuffer; stopped: boolean }
  | { type: 'error'; message: string };

/** How the page's training prepares its images: the shipped LeNet-5's test transform (pad 28 → 32, normalise). */
export const LENET5_META = {
  model: 'lenet5',
  modelOptions: { numClasses: 10 },
  data: 'fashion-mnist',
  imageShape: [1, 28, 28],
  transform: {
    kind: 'compose',
    transforms: [
      { kind: 'pad', padding: [2, 2, 2, 2], fill: 0, mode: 'constant' },
      { kind: 'normalize', mean: [0.286], std: [0.353] },
    ],
  },
};
