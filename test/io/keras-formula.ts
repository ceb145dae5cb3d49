// The Keras-layout weight formula of scripts/fixtures/keras_inception_fixtures.py, so a test and PyTorch run one
// InceptionV3 on the same weights without committing them: every value of Keras weight `layer/weight` at flat index i
// of its Keras-layout array draws u = (lowbias32(i XOR fnv1a32(name)) >>> 8) / 2^24, then maps it by the weight's
// kind. Both sides compute in float64 and round once to float32, so the values are bitwise equal.
import { fnv1a32, lowbias32 } from '../models/formula-weights.js';

/** The formula's values for the Keras weight `name` ('conv2d_5/kernel', 'input') of Keras-layout `shape`. */
export function kerasFormula(name: string, shape: readonly number[]): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const seed = fnv1a32(name);
  const weight = name.split('/').pop();
  // He's uniform over the fan-in, every dimension but the last of an HWIO or (in, out) kernel.
  const scale = Math.sqrt(6 / shape.slice(0, -1).reduce((a, b) => a * b, 1));
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = (lowbias32(i ^ seed) >>> 8) / 16777216;
    values[i] =
      weight === 'moving_variance'
        ? 0.5 + u
        : weight === 'beta' || weight === 'moving_mean'
          ? 0.2 * (2 * u - 1)
          : weight === 'bias'
            ? 0.1 * (2 * u - 1)
            : weight === 'kernel'
              ? (2 * u - 1) * scale
              : 2 * u - 1;
  }
  return values;
}
