/**
 * Checkpoints: the model's weights in weights.safetensors (torchvision keys, loadable on their own), the
 * optimizer's tensors (momentum buffers, moment estimates) in optimizer.safetensors, and everything else in
 * state.json: optimizer options and counters, schedule, epochs done, the global generator's state, the loader
 * seed, history and free metadata. Each file is written atomically (temporary name, then rename) and state.json
 * last, naming the epoch the tensor files must carry: an interrupted save leaves the previous checkpoint loadable.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.js';
import { writeAtomic } from '../io/common.js';
import type { Module } from '../nn/module.js';
import type { LRScheduler, OptimizerStateDict, ParamState } from '../optim/index.js';
import { Tensor, globalGenerator } from '../tensor/index.js';
import type { EpochRecord } from './history.js';

export const WEIGHTS_FILE = 'weights.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'state.json';
const FORMAT = 'convnets-checkpoint';

/** The optimizer's part of state.json: its state dict with each tensor replaced by its key in optimizer.safetensors. */
interface SavedOptimizer {
  paramGroups: OptimizerStateDict['paramGroups'];
  state: Record<string, Record<string, number | { tensor: string }>>;
}

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
  optimizer?: { stateDict(): OptimizerStateDict; loadStateDict(dict: OptimizerStateDict): void };
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

/** Writes weights.safetensors, optimizer.safetensors (with an optimizer) and state.json into `dir`. */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<void> {
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
  const json = new TextEncoder().encode(`${JSON.stringify(state, null, 2)}\n`);
  await writeAtomic(join(dir, STATE_FILE), (sink) => sink.write(json));
}

/** Reads and checks state.json of a checkpoint directory. */
export async function readCheckpointState(dir: string): Promise<CheckpointState> {
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

async function loadTensors(dir: string, file: string, epoch: number): Promise<Map<string, Tensor>> {
  const { tensors, metadata } = await loadSafetensors(join(dir, file));
  if (metadata.epoch !== String(epoch)) {
    for (const t of tensors.values()) t.dispose();
    throw new FormatError(
      `${join(dir, file)}: holds epoch ${metadata.epoch ?? '(none)'}, but ${STATE_FILE} says epoch ${epoch}; the checkpoint is inconsistent`,
    );
  }
  return tensors;
}

/**
 * Restores model weights, optimizer and schedule state (those given) and the global generator from `dir`; returns
 * the state (epochs done, history, loader seed, meta) to continue from.
 */
export async function loadCheckpoint(dir: string, target: Trainable): Promise<CheckpointState> {
  const state = await readCheckpointState(dir);
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
