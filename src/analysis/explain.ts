/**
 * Why a network chose a class, as maps over the image: Grad-CAM and Grad-CAM++ (from a layer's activations and
 * the gradient of the class score with respect to them), saliency (the gradient with respect to the input) and
 * occlusion (what hiding each part of the image costs the score). The score is the class's logit, before softmax,
 * as in the papers and PyTorch's usual hooks.
 */
import { ValueError, formatShape } from '../errors.js';
import { checkOptions, type OptionKeys } from '../options.js';
import type { Module } from '../nn/index.js';
import {
  abs,
  add,
  equal,
  div,
  max,
  mean,
  mul,
  noGrad,
  relu,
  reshape,
  scope,
  square,
  sub,
  sum,
  tensor,
  type Tensor,
} from '../tensor/index.js';
import { asSingleImage, chooseTarget, classScore, findLayer, inspecting, lastConvolution } from './layers.js';

/** A map of where the evidence for a class lies, with the class and its score. */
export interface Explanation {
  /** The map: [H', W'] at the layer's resolution for Grad-CAM, [H, W] for saliency, positions for occlusion. */
  map: Tensor;
  /** The class explained. */
  target: number;
  /** Its logit for the unoccluded input. */
  score: number;
}

/** The layer and class of gradCam and gradCamPlusPlus. */
export interface CamOptions {
  /** Dotted path of the layer whose activations are weighted; the last Conv2d when absent. */
  layer?: string;
  /** The class to explain; the top class when absent. */
  target?: number;
}

interface LayerGradient {
  /** The layer's output A [1, K, H', W'] and ∂score/∂A, same shape. */
  activation: Tensor;
  gradient: Tensor;
  target: number;
  score: number;
}

/**
 * Runs the model with the layer's output replaced by a leaf that requires a gradient (a forward hook, as
 * PyTorch's Grad-CAM code registers), then back-propagates the class score to it.
 */
function layerGradient(op: string, model: Module, x: Tensor, options: CamOptions): LayerGradient {
  const path = options.layer ?? lastConvolution(model);
  const layer = findLayer(model, path);
  const input = asSingleImage(op, x);
  const leaves: Tensor[] = [];
  const remove = layer.registerForwardHook((_module, _input, output) => {
    const leaf = output.detach().requireGrad();
    leaves.push(leaf);
    return leaf;
  });
  try {
    return inspecting(model, () =>
      scope(() => {
        const logits = model.call(input);
        if (leaves.length !== 1) {
          throw new ValueError(
            leaves.length === 0
              ? `${op}: layer '${path}' was not called by the forward pass`
              : `${op}: layer '${path}' runs ${leaves.length} times in one forward pass (a shared module); name one that runs once`,
          );
        }
        const [activation] = leaves;
        if (activation.rank !== 4) {
          throw new ValueError(
            `${op}: layer '${path}' gives ${formatShape(activation.shape)}, not feature maps [1, C, H, W]`,
          );
        }
        const target = chooseTarget(op, logits, options.target);
        const score = classScore(logits, target);
        const value = score.item();
        score.backward();
        // backward() keeps a leaf's .grad out of every scope; the copy lets the scope release the original.
        const gradient =
          activation.grad === null ? noGrad(() => mul(activation, 0)) : activation.grad.detach();
        activation.grad?.dispose();
        return { activation, gradient, target, score: value };
      }),
    );
  } finally {
    remove();
  }
}

/** Σ_k w_k A_k over channels, then ReLU: [1, K, 1, 1] weights and [1, K, H', W'] maps give [H', W']. */
function weightedMaps(weights: Tensor, activation: Tensor): Tensor {
  const [, , h, w] = activation.shape;
  return reshape(relu(sum(mul(weights, activation), 1)), [h, w]);
}

const CAM_OPTIONS: OptionKeys<CamOptions> = { layer: true, target: true };
const OCCLUSION_OPTIONS: OptionKeys<OcclusionOptions> = {
  patch: true,
  stride: true,
  fill: true,
  target: true,
  batchSize: true,
};

/**
 * Grad-CAM (Selvaraju et al. 2017): w_k = the spatial mean of ∂score/∂A_k; the map is ReLU(Σ_k w_k A_k) at the
 * layer's resolution, not normalised.
 */
export function gradCam(model: Module, x: Tensor, options: CamOptions = {}): Explanation {
  checkOptions('analysis.gradCam', options, CAM_OPTIONS);
  return scope(() => {
    const { activation, gradient, target, score } = layerGradient('gradCam', model, x, options);
    const map = noGrad(() => weightedMaps(mean(gradient, [2, 3], true), activation));
    return { map, target, score };
  });
}

/**
 * Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19 with Y = exp(score)): with g = ∂score/∂A,
 * α_kij = g² / (2g² + Σ_ab A_kab · g³) (0 where the denominator is), w_k = Σ_ij α_kij · ReLU(g_kij), and the map is
 * ReLU(Σ_k w_k A_k). The paper's weights carry a factor exp(score) common to every channel, left out here as in its
 * reference code: the map is the paper's divided by that positive constant.
 */
export function gradCamPlusPlus(model: Module, x: Tensor, options: CamOptions = {}): Explanation {
  checkOptions('analysis.gradCamPlusPlus', options, CAM_OPTIONS);
  return scope(() => {
    const { activation, gradient, target, score } = layerGradient('gradCamPlusPlus', model, x, options);
    const map = noGrad(() => {
      const g2 = square(gradient);
      const g3 = mul(g2, gradient);
      const denominator = add(mul(g2, 2), mul(sum(activation, [2, 3], true), g3));
      const zero = equal(denominator, 0);
      const alpha = mul(div(g2, add(denominator, zero)), sub(1, zero));
      return weightedMaps(sum(mul(alpha, relu(gradient)), [2, 3], true), activation);
    });
    return { map, target, score };
  });
}

/** Saliency (Simonyan et al. 2014): |∂score/∂x|, the largest over colour channels, at the input's [H, W]. */
export function saliency(model: Module, x: Tensor, options: { target?: number } = {}): Explanation {
  checkOptions('analysis.saliency', options, { target: true });
  const input = asSingleImage('saliency', x);
  return inspecting(model, () =>
    scope(() => {
      const leaf = input.detach().requireGrad();
      const logits = model.call(leaf);
      const target = chooseTarget('saliency', logits, options.target);
      const score = classScore(logits, target);
      const value = score.item();
      score.backward();
      const [, , h, w] = input.shape;
      const map = noGrad(() => reshape(max(abs(leaf.grad!), 1), [h, w]));
      leaf.grad!.dispose();
      return { map, target, score: value };
    }),
  );
}

/** The occluding square, its path over the image, and the class. */
export interface OcclusionOptions {
  /** Side of the square hidden at each position; 8 by default. */
  patch?: number;
  /** Pixels between positions; half the patch by default. */
  stride?: number;
  /** The value written over the square in every channel: 0 by default, the mean of a normalised input (grey). */
  fill?: number;
  /** The class to explain; the top class when absent. */
  target?: number;
  /** Occluded copies run per forward pass; 16 by default. */
  batchSize?: number;
}

/**
 * Occlusion (Zeiler & Fergus 2014, §4.2): a square of `fill` slides over the image; the map holds, for each
 * position of its top-left corner (row i·stride, column j·stride), the drop in the class's logit it causes:
 * score(x) − score(x occluded). Shape [⌊(H − patch)/stride⌋ + 1, ⌊(W − patch)/stride⌋ + 1].
 */
export function occlusion(model: Module, x: Tensor, options: OcclusionOptions = {}): Explanation {
  checkOptions('analysis.occlusion', options, OCCLUSION_OPTIONS);
  const input = asSingleImage('occlusion', x);
  const [, channels, h, w] = input.shape;
  const patch = options.patch ?? 8;
  const stride = options.stride ?? Math.max(1, Math.floor(patch / 2));
  const fill = options.fill ?? 0;
  const batchSize = options.batchSize ?? 16;
  for (const [name, value] of Object.entries({ patch, stride, batchSize })) {
    if (!Number.isInteger(value) || value < 1)
      throw new ValueError(`occlusion: ${name} must be a positive integer, got ${value}`);
  }
  if (patch > h || patch > w)
    throw new ValueError(`occlusion: a patch of ${patch} does not fit in an image of ${h}×${w}`);
  const rows = Math.floor((h - patch) / stride) + 1;
  const columns = Math.floor((w - patch) / stride) + 1;
  const pixels = input.data();
  return inspecting(model, () =>
    noGrad(() => {
      const logits = scope(() => model.call(input));
      const target = chooseTarget('occlusion', logits, options.target);
      const score = logits.data()[target];
      logits.dispose();
      const drops = new Float32Array(rows * columns);
      const image = channels * h * w;
      for (let first = 0; first < drops.length; first += batchSize) {
        const count = Math.min(batchSize, drops.length - first);
        const batch = new Float32Array(count * image);
        for (let b = 0; b < count; b++) {
          batch.set(pixels, b * image);
          const top = Math.floor((first + b) / columns) * stride;
          const left = ((first + b) % columns) * stride;
          for (let c = 0; c < channels; c++)
            for (let y = top; y < top + patch; y++) {
              const row = b * image + (c * h + y) * w;
              batch.fill(fill, row + left, row + left + patch);
            }
        }
        const scores = scope(() => model.call(tensor(batch, [count, channels, h, w])).data());
        const classes = scores.length / count;
        for (let b = 0; b < count; b++) drops[first + b] = score - scores[b * classes + target];
      }
      return { map: tensor(drops, [rows, columns]), target, score };
    }),
  );
}
