/**
 * Checkpoints. One checkpoint is a directory of three files: weights.safetensors (the model's weights under
 * torchvision keys, loadable on their own), optimizer.safetensors (the optimizer's tensors: momentum buffers, moment
 * estimates) and state.json (optimizer options and counters, schedule, epochs done, the global generator's state,
 * the loader seed, history and free metadata).
 *
 * A training run's directory (fit's checkpointDir, `convnets train --out`) keeps its current checkpoint in a
 * subdirectory that checkpoint.json names: run/checkpoint.json → run/epoch-3/weights.safetensors. A save writes the
 * new checkpoint whole into a temporary subdirectory, flushes files and directory to disk, renames it to epoch-N,
 * then switches checkpoint.json to it with one rename, and only then removes the previous checkpoint: a kill at any
 * moment leaves the previous checkpoint or the new one. Loading reads only what checkpoint.json names, so leftovers
 * of a killed save are never read; the next save removes them. A directory with the three files at its top (an
 * epoch-N directory itself, or a run written before checkpoint.json existed) loads as it is.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { syncDirectory, writeAtomic } from '../io/common.js';
import type { Module } from '../nn/module.js';
import type { LRScheduler, OptimizerStateDict, ParamState } from '../optim/index.js';
import { Tensor, globalGenerator } from '../tensor/index.js';
import type { EpochRecord } from './history.js';
import { checkOptions } from '../options.js';

/** The model's weights in a checkpoint directory, a plain safetensors file. */
export const WEIGHTS_FILE = 'weights.safetensors';
/** The optimizer's state in a checkpoint directory. */
export const OPTIMIZER_FILE = 'optimizer.safetensors';
/** The JSON part of a checkpoint (epoch, schedule, seeds, history, meta). */
export const STATE_FILE = 'state.json';
/** Names the current checkpoint's subdirectory of a training run's directory. */
export const MANIFEST_FILE = 'checkpoint.json';
const FORMAT = 'convnets-checkpoint';
const MANIFEST_FORMAT = 'convnets-checkpoint-manifest';
/** A checkpoint's subdirectory: epoch-3, or epoch-3-2 for a second save of the same epoch. */
const CHECKPOINT_NAME = /^epoch-\d+(-2)?$/;
/** Leftovers of a killed save: a checkpoint's temporary directory, or writeAtomic's temporary manifest. */
const LEFTOVER_NAME = /^\.(epoch-\d+(-2)?|checkpoint\.json)\.\d+\.[0-9a-f]+\.tmp$/;

/** The optimizer's part of state.json: its state dict with each tensor replaced by its key in optimizer.safetensors. */
interface SavedOptimizer {
  paramGroups: OptimizerStateDict['paramGroups'];
  state: Record<string, Record<string, number | { tensor: string }>>;
}

/** The JSON part of a checkpoint (state.json). */
export interface CheckpointState {
  format: typeof FORMAT;
  version: 1;
  /** Epochs completed. */
  epoch: number;
  optimizer: SavedOptimizer | null;
  schedule: object | null;
  /** The global generator's state (dropout and anything else drawing from it). */
  rng: number;
  loaderSeed: number | null;
  history: EpochRecord[];
  /** Free data for the caller (the CLI keeps the model name, options and transforms here). */
  meta: Record<string, unknown>;
}

/** What a training loop has: optimizer and schedule are optional for a weights-only checkpoint. */
export interface Trainable {
  model: Module;
  optimizer?: {
    /** The optimizer's state, saved in the checkpoint. */
    stateDict(): OptimizerStateDict;
    /** Restores a saved state. */
    loadStateDict(dict: OptimizerStateDict): void;
  };
  schedule?: LRScheduler;
}

export interface SaveCheckpointOptions extends Trainable {
  epoch: number;
  history?: readonly EpochRecord[];
  loaderSeed?: number;
  meta?: Record<string, unknown>;
}

function optimizerTensors(dict: OptimizerStateDict): { saved: SavedOptimizer; tensors: Map<string, Tensor> } {
  const tensors = new Map<string, Tensor>();
  const state: SavedOptimizer['state'] = {};
  for (const [index, paramState] of Object.entries(dict.state)) {
    state[index] = {};
    for (const [field, value] of Object.entries(paramState)) {
      if (value instanceof Tensor) {
        const key = `state.${index}.${field}`;
        tensors.set(key, value);
        state[index][field] = { tensor: key };
      } else state[index][field] = value;
    }
  }
  return { saved: { paramGroups: dict.paramGroups, state }, tensors };
}

/** Writes the three files of one checkpoint into `dir`. */
async function writeCheckpointFiles(dir: string, options: SaveCheckpointOptions): Promise<void> {
  const metadata = { format: FORMAT, epoch: String(options.epoch) };
  await saveSafetensors(join(dir, WEIGHTS_FILE), options.model.stateDict(), metadata);
  let optimizer: SavedOptimizer | null = null;
  if (options.optimizer) {
    const { saved, tensors } = optimizerTensors(options.optimizer.stateDict());
    await saveSafetensors(join(dir, OPTIMIZER_FILE), tensors, metadata);
    optimizer = saved;
  }
  const state: CheckpointState = {
    format: FORMAT,
    version: 1,
    epoch: options.epoch,
    optimizer,
    schedule: options.schedule?.stateDict() ?? null,
    rng: globalGenerator().getState(),
    loaderSeed: options.loaderSeed ?? null,
    history: [...(options.history ?? [])],
    meta: options.meta ?? {},
  };
  await writeAtomic(join(dir, STATE_FILE), (sink) => sink.write(jsonBytes(state)));
}

const jsonBytes = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** The subdirectory checkpoint.json names, or null where there is no checkpoint.json. */
async function readManifest(dir: string): Promise<string | null> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw new ValueError(`cannot read ${path} (${(error as Error).message})`);
  }
  let manifest: { format?: unknown; current?: unknown };
  try {
    manifest = JSON.parse(text) as typeof manifest;
  } catch (error) {
    throw new FormatError(`${path}: not JSON (${(error as Error).message})`);
  }
  if (
    manifest?.format !== MANIFEST_FORMAT ||
    typeof manifest.current !== 'string' ||
    !CHECKPOINT_NAME.test(manifest.current)
  )
    throw new FormatError(`${path}: not a ${MANIFEST_FORMAT} file (format or current missing)`);
  return manifest.current;
}

/**
 * The directory holding the current checkpoint's files: the subdirectory `dir`/checkpoint.json names, or `dir`
 * itself where it has none (an epoch-N directory, or a run written before checkpoint.json).
 */
export async function resolveCheckpoint(dir: string): Promise<string> {
  const info = await stat(dir).catch(() => null);
  if (info === null) throw new ValueError(`no checkpoint in ${dir}: no such directory`);
  if (!info.isDirectory()) throw new ValueError(`no checkpoint in ${dir}: not a directory`);
  const current = await readManifest(dir);
  return current === null ? dir : join(dir, current);
}

/** Whether `dir` has a checkpoint's state.json at its top (the layout before checkpoint.json). */
async function hasTopLevelCheckpoint(dir: string): Promise<boolean> {
  try {
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { format?: unknown };
    return state?.format === FORMAT;
  } catch {
    return false;
  }
}

/**
 * Removes all but the current checkpoint: temporaries and epoch-N directories of earlier or killed saves, and, once
 * checkpoint.json exists, the files of the layout before it (state.json last, so that a kill part way through is
 * finished next time).
 */
async function removeStale(dir: string, current: string | null): Promise<void> {
  for (const name of await readdir(dir)) {
    if (LEFTOVER_NAME.test(name) || (CHECKPOINT_NAME.test(name) && name !== current))
      await rm(join(dir, name), { recursive: true, force: true });
  }
  if (current === null || !(await hasTopLevelCheckpoint(dir))) return;
  for (const file of [WEIGHTS_FILE, OPTIMIZER_FILE, STATE_FILE]) await rm(join(dir, file), { force: true });
}

/**
 * Writes a checkpoint into the training run's directory `dir` (which must exist) and makes it the current one
 * (see the top of this file): the previous checkpoint stays current until the new one is complete on disk.
 */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<void> {
  checkOptions('train.saveCheckpoint', options, {
    model: true,
    optimizer: true,
    schedule: true,
    epoch: true,
    history: true,
    loaderSeed: true,
    meta: true,
  });
  await mkdir(dir, { recursive: true });
  const previous = await readManifest(dir);
  await removeStale(dir, previous);
  let name = `epoch-${options.epoch}`;
  if (name === previous) name = `${name}-2`;
  const temporary = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await mkdir(temporary);
  try {
    await writeCheckpointFiles(temporary, options);
    await syncDirectory(temporary);
    await rename(temporary, join(dir, name));
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
  // Flushed before the switch, so no crash can keep the switch and lose the directory it names.
  await syncDirectory(dir);
  await writeAtomic(join(dir, MANIFEST_FILE), (sink) =>
    sink.write(jsonBytes({ format: MANIFEST_FORMAT, current: name })),
  );
  await syncDirectory(dir);
  await removeStale(dir, name);
}

/** Reads and checks state.json of the files directory `dir` (resolved). */
async function readStateFile(dir: string): Promise<CheckpointState> {
  const path = join(dir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ValueError(`no checkpoint in ${dir}: cannot read ${STATE_FILE} (${(error as Error).message})`);
  }
  let state: CheckpointState;
  try {
    state = JSON.parse(text) as CheckpointState;
  } catch (error) {
    throw new FormatError(`${path}: not JSON (${(error as Error).message})`);
  }
  if (state?.format !== FORMAT || !Number.isInteger(state.epoch) || !Array.isArray(state.history)) {
    throw new FormatError(`${path}: not a ${FORMAT} file (format, epoch or history missing)`);
  }
  return state;
}

/** Reads and checks the state (epochs done, history, meta) of the current checkpoint in `dir`. */
export async function readCheckpointState(dir: string): Promise<CheckpointState> {
  return readStateFile(await resolveCheckpoint(dir));
}

async function loadTensors(dir: string, file: string, epoch: number): Promise<Map<string, Tensor>> {
  const { tensors, metadata } = await loadSafetensors(join(dir, file)).catch((error: unknown) => {
    if (errorCode(error) !== 'ENOENT') throw error;
    throw new FormatError(
      `${join(dir, file)}: missing, but ${STATE_FILE} is there; the checkpoint is incomplete`,
    );
  });
  if (metadata.epoch !== String(epoch)) {
    for (const t of tensors.values()) t.dispose();
    throw new FormatError(
      `${join(dir, file)}: holds epoch ${metadata.epoch ?? '(none)'}, but ${STATE_FILE} says epoch ${epoch}; the checkpoint is inconsistent`,
    );
  }
  return tensors;
}

/**
 * Restores model weights, optimizer and schedule state (those given) and the global generator from the current
 * checkpoint in `path` (see resolveCheckpoint); returns the state (epochs done, history, loader seed, meta) to
 * continue from.
 */
export async function loadCheckpoint(path: string, target: Trainable): Promise<CheckpointState> {
  const dir = await resolveCheckpoint(path);
  const state = await readStateFile(dir);
  const weights = await loadTensors(dir, WEIGHTS_FILE, state.epoch);
  try {
    target.model.loadStateDict(weights);
  } finally {
    for (const t of weights.values()) t.dispose();
  }
  if (target.optimizer) {
    if (state.optimizer === null) throw new ValueError(`${dir}: the checkpoint has no optimizer state`);
    const tensors = await loadTensors(dir, OPTIMIZER_FILE, state.epoch);
    try {
      const restored: Record<string, ParamState> = {};
      for (const [index, fields] of Object.entries(state.optimizer.state)) {
        restored[index] = {};
        for (const [field, value] of Object.entries(fields)) {
          if (typeof value === 'number') restored[index][field] = value;
          else {
            const t = tensors.get(value.tensor);
            if (t === undefined)
              throw new FormatError(`${join(dir, OPTIMIZER_FILE)}: missing ${value.tensor}`);
            restored[index][field] = t;
          }
        }
      }
      target.optimizer.loadStateDict({ paramGroups: state.optimizer.paramGroups, state: restored });
    } finally {
      // loadStateDict copies the tensors it keeps.
      for (const t of tensors.values()) t.dispose();
    }
  }
  if (target.schedule) {
    if (state.schedule === null) throw new ValueError(`${dir}: the checkpoint has no schedule state`);
    target.schedule.loadStateDict(state.schedule);
  }
  globalGenerator().setState(state.rng);
  return state;
}
