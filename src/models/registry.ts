import { ValueError } from '../errors.js';
import type { Module } from '../nn/index.js';
import type { Tensor } from '../tensor/index.js';

/** What a builder accepts; families add their own options (e.g. `auxLogits` for GoogLeNet). */
export interface ModelOptions {
  numClasses?: number;
  /** Seed of the generator the initialisers draw from. */
  seed?: number;
}

/** Facts about a model, kept next to its builder and checked by tests. */
export interface ModelInfo {
  name: string;
  family: string;
  paper: string;
  year: number;
  /** Input [C, H, W] the figures below are for. */
  inputShape: readonly [number, number, number];
  numClasses: number;
  /** Trainable parameters at the default configuration. */
  parameters: number;
  /** Multiply-accumulates of one image's forward pass (convolutions and fully connected layers). */
  macs: number;
  /** Top-1 accuracy in percent (76.13, as torchvision's tables print it), with the source named. */
  reportedAccuracy?: { top1: number; dataset: string; source: string };
  /** Normalisation the published weights expect, where there are any. */
  preprocessing?: { mean: readonly number[]; std: readonly number[] };
  /**
   * The module whose output is the last convolutional stage's feature maps ('layer4' in a ResNet): where Grad-CAM
   * looks by default (`convnets explain`). Absent, explanations fall back to the last convolution.
   */
  featureLayer?: string;
  /**
   * Dotted path of the classifier layer transfer learning replaces ('fc', 'classifier.6'); where absent, the last
   * Linear module (train/transfer.ts).
   */
  head?: string;
  /** How to train it from scratch on 28×28 grey images (Fashion-MNIST), where that was tuned: `convnets train`. */
  training?: TrainingDefaults;
}

/** Settings that train a model from scratch on 28×28 grey images, measured on Fashion-MNIST (README). */
export interface TrainingDefaults {
  /** The input side the model is fed: 28×28 images are zero-padded up to it. */
  inputSize: number;
  /** Builder options, e.g. one input channel. */
  modelOptions: Record<string, unknown>;
  epochs: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: 'cosine' | 'step' | 'none';
  augment: 'none' | 'crop-flip';
  /** The training loss where it is not cross-entropy of the output (LeNet-5 1998's MAP criterion). */
  loss?: (output: Tensor, labels: Tensor) => Tensor;
}

/** The per-channel (RGB) mean and standard deviation of ImageNet that torchvision's published weights expect. */
export const IMAGENET_PREPROCESSING = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
} as const satisfies ModelInfo['preprocessing'];

/** A model builder: options in, a freshly initialised model out. */
export type Builder<O extends ModelOptions = ModelOptions> = (options?: O) => Module;

interface Entry {
  info: ModelInfo;
  build: Builder;
}

const entries = new Map<string, Entry>();

/** Adds a builder under info.name; returns the builder so a family file can export it in the same line. */
export function register<O extends ModelOptions>(info: ModelInfo, build: Builder<O>): Builder<O> {
  if (entries.has(info.name)) throw new ValueError(`model '${info.name}' is registered twice`);
  const recorded: Builder<O> = (options) => {
    const model = build(options);
    builds.set(model, { name: info.name, options: { ...(options ?? {}) } });
    return model;
  };
  entries.set(info.name, { info, build: recorded as Builder });
  return recorded;
}

/** The registered name and options each model was built with, so a checkpoint can name them. */
const builds = new WeakMap<Module, { name: string; options: Record<string, unknown> }>();

/** The name and options `model` was built with by a registered builder; undefined for a model built otherwise. */
export function builtWith(model: Module): { name: string; options: Record<string, unknown> } | undefined {
  return builds.get(model);
}

/** Builds a registered model by name, e.g. get('resnet50', { numClasses: 10 }). */
export function get(name: string, options: ModelOptions & Record<string, unknown> = {}): Module {
  return entry(name).build(options);
}

/** The facts registered with a model: paper, input, parameters, MACs, accuracy, preprocessing. */
export function info(name: string): ModelInfo {
  return entry(name).info;
}

/** Every registered model's facts, in registration order. */
export function list(): ModelInfo[] {
  return [...entries.values()].map((e) => e.info);
}

function entry(name: string): Entry {
  const found = entries.get(name);
  if (found === undefined) {
    throw new ValueError(`unknown model '${name}'; known models: ${[...entries.keys()].join(', ')}`);
  }
  return found;
}
