/** Colour augmentation: per-channel offsets, and AlexNet's PCA lighting noise. */
import { ShapeError, ValueError } from '../../errors.js';
import type { Dataset } from '../datasets/dataset.js';
import type { ChwImage } from '../image.js';

/** Adds `offsets[c]` to every pixel of channel c. */
export function addChannelOffsets(image: ChwImage, offsets: readonly number[]): ChwImage {
  const { channels, height, width } = image;
  if (offsets.length !== channels) {
    throw new ShapeError(`channel offsets: ${offsets.length} offsets for an image with ${channels} channels`);
  }
  const plane = height * width;
  const data = new Float32Array(image.data.length);
  for (let c = 0; c < channels; c++) {
    for (let i = c * plane; i < (c + 1) * plane; i++) data[i] = image.data[i] + offsets[c];
  }
  return { data, channels, height, width };
}

/** The principal components of a dataset's RGB pixel values, largest first. */
export interface PcaLighting {
  /** λ1 ≥ λ2 ≥ λ3: variances of the pixel values along each eigenvector. */
  eigenvalues: [number, number, number];
  /** p1, p2, p3: unit eigenvectors of the 3×3 RGB covariance, each as [r, g, b]. */
  eigenvectors: [number[], number[], number[]];
}

/**
 * AlexNet's lighting offset (Krizhevsky et al. 2012, section 4.1): [p1 p2 p3]·[α1λ1 α2λ2 α3λ3]ᵀ, one RGB vector
 * added to every pixel of the image.
 */
export function pcaOffset(pca: PcaLighting, alphas: readonly number[]): number[] {
  const offset = [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    for (let c = 0; c < 3; c++) offset[c] += pca.eigenvectors[i][c] * alphas[i] * pca.eigenvalues[i];
  }
  return offset;
}

/**
 * Eigen-decomposition of a symmetric 3×3 matrix (row-major) by cyclic Jacobi rotations; eigenvalues largest
 * first, each eigenvector's largest-magnitude component made positive so results do not depend on round-off.
 */
export function symmetricEigen3(matrix: readonly number[]): PcaLighting {
  const a = [...matrix];
  const v = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
    if (off < 1e-30 * (a[0] * a[0] + a[4] * a[4] + a[8] * a[8]) || off === 0) break;
    for (const [p, q] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      const apq = a[3 * p + q];
      if (apq === 0) continue;
      const theta = (a[3 * q + q] - a[3 * p + p]) / (2 * apq);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        // A ← A·J (columns p and q), then A ← Jᵀ·A (rows p and q); V ← V·J.
        const akp = a[3 * k + p];
        const akq = a[3 * k + q];
        a[3 * k + p] = c * akp - s * akq;
        a[3 * k + q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[3 * p + k];
        const aqk = a[3 * q + k];
        a[3 * p + k] = c * apk - s * aqk;
        a[3 * q + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[3 * k + p];
        const vkq = v[3 * k + q];
        v[3 * k + p] = c * vkp - s * vkq;
        v[3 * k + q] = s * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((i, j) => a[4 * j] - a[4 * i]);
  const vectors = order.map((i) => {
    const column = [v[i], v[3 + i], v[6 + i]];
    const largest = column.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
    return largest < 0 ? column.map((x) => -x) : column;
  });
  return {
    eigenvalues: [a[4 * order[0]], a[4 * order[1]], a[4 * order[2]]],
    eigenvectors: [vectors[0], vectors[1], vectors[2]],
  };
}

/**
 * The eigenvalues and eigenvectors of the 3×3 covariance of RGB pixel values over a dataset (every pixel of
 * `sampleCount` images evenly spaced through it; all of them by default), for `transforms.pcaLighting`. Values
 * are in the dataset's own units (0..1 for the built-in datasets), not AlexNet's 0..255.
 */
export function computePcaLighting(dataset: Dataset, sampleCount = dataset.length): PcaLighting {
  const [channels, height, width] = dataset.shape;
  if (channels !== 3) {
    throw new ShapeError(`computePcaLighting: needs RGB images, the dataset's have ${channels} channels`);
  }
  const count = Math.min(sampleCount, dataset.length);
  if (!(count >= 1))
    throw new ValueError(`computePcaLighting: no images to sample (sampleCount ${sampleCount})`);
  const plane = height * width;
  const sum = [0, 0, 0];
  const products = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  for (let k = 0; k < count; k++) {
    const { image } = dataset.get(Math.floor((k * dataset.length) / count));
    for (let p = 0; p < plane; p++) {
      const rgb = [image[p], image[plane + p], image[2 * plane + p]];
      for (let i = 0; i < 3; i++) {
        sum[i] += rgb[i];
        for (let j = i; j < 3; j++) products[3 * i + j] += rgb[i] * rgb[j];
      }
    }
  }
  const n = count * plane;
  const covariance = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = i; j < 3; j++) {
      covariance[3 * i + j] = covariance[3 * j + i] = products[3 * i + j] / n - (sum[i] / n) * (sum[j] / n);
    }
  }
  return symmetricEigen3(covariance);
}
