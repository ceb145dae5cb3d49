/** One row per epoch of training, and its JSON and CSV renderings. */
import { writeAtomic } from '../io/common.js';
import { checkOptions } from '../options.js';

/** What one epoch of training measured. */
export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  trainLoss: number;
  trainTop1: number;
  /** null without a validation loader. */
  valLoss: number | null;
  valTop1: number | null;
  valTop5: number | null;
  /** The learning rate the epoch trained with (first param group). */
  lr: number;
  /** Wall time of the epoch, validation included. */
  seconds: number;
  /** Training images per second (training steps only). */
  imagesPerSecond: number;
}

/** The CSV columns of a history, in order. */
export const HISTORY_COLUMNS = [
  'epoch',
  'trainLoss',
  'trainTop1',
  'valLoss',
  'valTop1',
  'valTop5',
  'lr',
  'seconds',
  'imagesPerSecond',
] as const satisfies readonly (keyof EpochRecord)[];

/** The history as pretty-printed JSON. */
export function historyToJson(history: readonly EpochRecord[]): string {
  return `${JSON.stringify(history, null, 2)}\n`;
}

/** A header line, then one line per epoch; a missing value is an empty field. */
export function historyToCsv(history: readonly EpochRecord[]): string {
  const lines = history.map((row) => HISTORY_COLUMNS.map((column) => String(row[column] ?? '')).join(','));
  return `${[HISTORY_COLUMNS.join(','), ...lines].join('\n')}\n`;
}

/** Writes a text file atomically (a temporary name, then a rename). */
export async function writeText(path: string, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  await writeAtomic(path, (sink) => sink.write(bytes));
}

/** Writes the history as JSON and/or CSV, each file atomically. */
export async function saveHistory(
  history: readonly EpochRecord[],
  paths: { json?: string; csv?: string },
): Promise<void> {
  checkOptions('train.saveHistory', paths, { json: true, csv: true });
  if (paths.json !== undefined) await writeText(paths.json, historyToJson(history));
  if (paths.csv !== undefined) await writeText(paths.csv, historyToCsv(history));
}
