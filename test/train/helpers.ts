import * as nn from '../../src/nn/index.js';
import { arrayDataset, type Dataset } from '../../src/data/index.js';
import { Generator } from '../../src/tensor/index.js';

/** 4×4 images: class 0 bright on the left half, class 1 on the right, plus noise: linearly separable. */
export function halvesDataset(count: number, seed = 5): Dataset {
  const generator = new Generator(seed);
  const images = new Float32Array(count * 16);
  const labels = Array.from({ length: count }, (_, i) => i % 2);
  for (let i = 0; i < count; i++) {
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        const bright = labels[i] === 0 ? x < 2 : x >= 2;
        images[i * 16 + y * 4 + x] = (bright ? 1 : 0) + 0.3 * (generator.uniform() - 0.5);
      }
    }
  }
  return arrayDataset(images, labels, [1, 4, 4]);
}

/** Conv + BatchNorm (so buffers matter) + linear head. */
export function tinyNet(seed = 7): nn.Sequential {
  const generator = new Generator(seed);
  return new nn.Sequential(
    new nn.Conv2d(1, 2, 3, { padding: 1, generator }),
    new nn.BatchNorm2d(2),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(32, 2, { generator }),
  );
}

/** Every tensor of the model's state dict, by key, as plain arrays. */
export function weights(model: nn.Module): Record<string, number[]> {
  return Object.fromEntries([...model.stateDict()].map(([key, t]) => [key, Array.from(t.data())]));
}
