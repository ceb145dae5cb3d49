/**
 * The "train in the page" view: starts the training worker, draws its loss and accuracy as they come, stops it,
 * and offers the trained weights as a single-file checkpoint to download.
 */
import { drawChart, type Series } from './chart.js';
import { byId } from './pictures.js';
import type { FromWorker, ToWorker } from './train-protocol.js';

export interface TrainingRun {
  /** Resolves when the run ends, with the losses of its steps. */
  finished: Promise<{ losses: number[]; steps: number }>;
  stop(): void;
}

/** Wires the view's controls; `start` is what the Train button and the test hook call. */
export function setUpTraining(subsetMissing: string | null): { start(steps: number): TrainingRun } {
  const button = byId<HTMLButtonElement>('train-start');
  const stopButton = byId<HTMLButtonElement>('train-stop');
  const stepsInput = byId<HTMLInputElement>('train-steps');
  const status = byId('train-status');
  const chart = byId('train-chart') as unknown as SVGSVGElement;
  const download = byId<HTMLAnchorElement>('train-download');
  if (subsetMissing !== null) {
    button.disabled = true;
    status.textContent = subsetMissing;
  }
  let current: TrainingRun | null = null;

  function start(steps: number): TrainingRun {
    current?.stop();
    const worker = new Worker(new URL('train-worker.js', import.meta.url), { type: 'module' });
    const loss: Series = { name: 'training loss', colour: '#c0392b', points: [], axis: 'loss' };
    const accuracy: Series = { name: 'batch accuracy', colour: '#95a5a6', points: [], axis: 'accuracy' };
    const testAccuracy: Series = { name: 'test accuracy', colour: '#2471a3', points: [], axis: 'accuracy' };
    const series = [loss, accuracy, testAccuracy];
    const losses: number[] = [];
    let backendLine = '';
    button.disabled = true;
    stopButton.disabled = false;
    download.hidden = true;
    status.textContent = 'starting the worker…';
    drawChart(chart, series, steps);
    const finished = new Promise<{ losses: number[]; steps: number }>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        switch (message.type) {
          case 'backend':
            backendLine = `worker: ${message.note}`;
            byId('training-backend').textContent =
              `training: ${message.name}, ${message.threads} thread${message.threads === 1 ? '' : 's'}`;
            status.textContent = `${backendLine}; preparing the images…`;
            break;
          case 'step': {
            losses.push(message.loss);
            loss.points.push([message.step, message.loss]);
            accuracy.points.push([message.step, message.accuracy]);
            if (message.testAccuracy !== undefined)
              testAccuracy.points.push([message.step, message.testAccuracy]);
            const test = testAccuracy.points.at(-1)?.[1];
            status.textContent =
              `step ${message.step} of ${steps}: loss ${message.loss.toFixed(3)}` +
              (test === undefined ? '' : `, test accuracy ${(100 * test).toFixed(1)}% (200 images)`) +
              ` — ${backendLine}`;
            if (message.step % 5 === 0 || message.testAccuracy !== undefined) drawChart(chart, series, steps);
            break;
          }
          case 'done': {
            drawChart(chart, series, steps);
            const blob = new Blob([message.weights], { type: 'application/octet-stream' });
            URL.revokeObjectURL(download.href);
            download.href = URL.createObjectURL(blob);
            download.hidden = false;
            status.textContent = `${message.stopped ? 'stopped' : 'done'} after ${message.steps} steps — ${backendLine}`;
            worker.terminate();
            button.disabled = false;
            stopButton.disabled = true;
            resolve({ losses, steps: message.steps });
            break;
          }
          case 'error':
            status.textContent = `training failed: ${message.message}`;
            worker.terminate();
            button.disabled = false;
            stopButton.disabled = true;
            reject(new Error(message.message));
        }
      };
    });
    const send = (message: ToWorker) => worker.postMessage(message);
    send({ type: 'start', steps, batchSize: 32, lr: 0.02, seed: 1 });
    current = { finished, stop: () => send({ type: 'stop' }) };
    return current;
  }

  button.addEventListener('click', () => {
    start(Math.max(1, Math.round(Number(stepsInput.value) || 600))).finished.catch(() => undefined);
  });
  stopButton.addEventListener('click', () => current?.stop());
  return { start };
}
