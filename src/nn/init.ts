/**
 * Initialisers that overwrite a tensor's values in place (keeping its identity), as torch.nn.init. Every random
 * one draws from `generator`, or the global generator when none is given (DESIGN.md decision 9).
 */
import { ValueError, formatShape } from '../errors.js';
import { Generator, globalGenerator, noGrad, tensor, type Tensor } from '../tensor/index.js';
import { checkOptions, type OptionKeys } from '../options.js';

/** A nonlinearity whose gain calculateGain knows (PyTorch's names, in camelCase). */
export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'selu';
/** Which fan the Kaiming initialisers scale by. */
export type FanMode = 'fanIn' | 'fanOut';

/** The generator a random initialiser draws from; the global one when absent. */
export interface RandomInitOptions {
  generator?: Generator;
}

/** Options of the He (Kaiming) initialisers. */
export interface KaimingOptions extends RandomInitOptions {
  /** Negative slope of the leaky ReLU that follows (0: plain ReLU). */
  a?: number;
  /** fanIn keeps the forward pass's variance, fanOut the backward pass's (He et al. 2015, §2.2). */
  mode?: FanMode;
  /** PyTorch's default is leakyRelu, which with a = 0 is ReLU's gain √2. */
  nonlinearity?: Nonlinearity;
}

/** Options of the Glorot (Xavier) initialisers. */
export interface XavierOptions extends RandomInitOptions {
  gain?: number;
}

const kaimingOptionKeys: OptionKeys<KaimingOptions> = {
  generator: true,
  a: true,
  mode: true,
  nonlinearity: true,
};
const xavierOptionKeys: OptionKeys<XavierOptions> = { generator: true, gain: true };

/** PyTorch's calculate_gain: the factor that keeps activations' variance through the given nonlinearity. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
  }
}

/**
 * Inputs and outputs each unit connects to: a weight [out, in, ...kernel] has fanIn = in·k and fanOut = out·k,
 * with k the kernel's size (1 for Linear).
 */
export function fanInAndFanOut(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2)
    throw new ValueError(`fan in and fan out need a tensor of rank 2 or more, got ${formatShape(shape)}`);
  const receptiveField = shape.slice(2).reduce((n, d) => n * d, 1);
  return { fanIn: shape[1] * receptiveField, fanOut: shape[0] * receptiveField };
}

/** Replaces the target's values with those `draw` writes into a fresh array of its size. */
function fill(target: Tensor, draw: (values: Float32Array) => void): Tensor {
  // A shape-only backend keeps no values: drawing them would be most of the time of building VGG-16 there.
  if (target.backend.shapeOnly) return target;
  const values = new Float32Array(target.size);
  draw(values);
  const typed = target.dtype === 'int32' ? Int32Array.from(values) : values;
  return noGrad(() => target.assign(tensor(typed, target.shape, { dtype: target.dtype })));
}

function randomFill(
  target: Tensor,
  options: RandomInitOptions,
  draw: (g: Generator, values: Float32Array) => void,
): Tensor {
  if (target.dtype !== 'float32')
    throw new ValueError(`random initialisation needs a float32 tensor, got ${target.dtype}`);
  const generator = options.generator ?? globalGenerator();
  return fill(target, (values) => draw(generator, values));
}

/** Fills a tensor with draws from U(low, high), in place. */
export function uniform(target: Tensor, low = 0, high = 1, options: RandomInitOptions = {}): Tensor {
  checkOptions('nn.init.uniform', options, { generator: true });
  if (!(high >= low)) throw new ValueError(`uniform: high (${high}) must not be below low (${low})`);
  return randomFill(target, options, (g, values) => g.fillUniform(values, low, high));
}

/** Fills a tensor with draws from N(mean, std²), in place. */
export function normal(target: Tensor, mean = 0, std = 1, options: RandomInitOptions = {}): Tensor {
  checkOptions('nn.init.normal', options, { generator: true });
  if (!(std >= 0)) throw new ValueError(`normal: std must be non-negative, got ${std}`);
  return randomFill(target, options, (g, values) => g.fillNormal(values, mean, std));
}

/** Fills a tensor with one value, in place. */
export function constant(target: Tensor, value: number): Tensor {
  return fill(target, (values) => values.fill(value));
}

/** Fills a tensor with zeros, in place. */
export function zeros(target: Tensor): Tensor {
  return constant(target, 0);
}

/** Fills a tensor with ones, in place. */
export function ones(target: Tensor): Tensor {
  return constant(target, 1);
}

function kaimingStd(target: Tensor, options: KaimingOptions): number {
  const fans = fanInAndFanOut(target.shape);
  const fan = (options.mode ?? 'fanIn') === 'fanIn' ? fans.fanIn : fans.fanOut;
  return calculateGain(options.nonlinearity ?? 'leakyRelu', options.a ?? 0) / Math.sqrt(fan);
}

/** He et al. 2015: N(0, std²) with std = gain/√fan. */
export function kaimingNormal(target: Tensor, options: KaimingOptions = {}): Tensor {
  checkOptions('nn.init.kaimingNormal', options, kaimingOptionKeys);
  if (target.size === 0) return target;
  return normal(target, 0, kaimingStd(target, options), { generator: options.generator });
}

/** He et al. 2015: U(−b, b) with b = √3 · gain/√fan, the same variance as kaimingNormal. */
export function kaimingUniform(target: Tensor, options: KaimingOptions = {}): Tensor {
  checkOptions('nn.init.kaimingUniform', options, kaimingOptionKeys);
  if (target.size === 0) return target;
  const bound = Math.sqrt(3) * kaimingStd(target, options);
  return uniform(target, -bound, bound, { generator: options.generator });
}

function xavierStd(target: Tensor, gain: number): number {
  const { fanIn, fanOut } = fanInAndFanOut(target.shape);
  return gain * Math.sqrt(2 / (fanIn + fanOut));
}

/** Glorot & Bengio 2010: U(−b, b) with b = gain·√(6/(fanIn + fanOut)). */
export function xavierUniform(target: Tensor, options: XavierOptions = {}): Tensor {
  checkOptions('nn.init.xavierUniform', options, xavierOptionKeys);
  if (target.size === 0) return target;
  const bound = Math.sqrt(3) * xavierStd(target, options.gain ?? 1);
  return uniform(target, -bound, bound, { generator: options.generator });
}

/** Glorot & Bengio 2010: N(0, std²) with std = gain·√(2/(fanIn + fanOut)). */
export function xavierNormal(target: Tensor, options: XavierOptions = {}): Tensor {
  checkOptions('nn.init.xavierNormal', options, xavierOptionKeys);
  if (target.size === 0) return target;
  return normal(target, 0, xavierStd(target, options.gain ?? 1), { generator: options.generator });
}

/** LeCun et al. 1998 (Efficient BackProp, §4.6): std = 1/√fanIn, untruncated (Keras truncates). */
export function lecunNormal(target: Tensor, options: RandomInitOptions = {}): Tensor {
  checkOptions('nn.init.lecunNormal', options, { generator: true });
  if (target.size === 0) return target;
  return normal(target, 0, 1 / Math.sqrt(fanInAndFanOut(target.shape).fanIn), options);
}

/** U(−b, b) with b = √(3/fanIn): the variance of lecunNormal. */
export function lecunUniform(target: Tensor, options: RandomInitOptions = {}): Tensor {
  checkOptions('nn.init.lecunUniform', options, { generator: true });
  if (target.size === 0) return target;
  const bound = Math.sqrt(3 / fanInAndFanOut(target.shape).fanIn);
  return uniform(target, -bound, bound, options);
}
