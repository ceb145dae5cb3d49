import { ShapeError } from '../errors.js';
import { tensor } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ChwImage } from './image.js';

/** Stacks same-shaped images into an [N, C, H, W] tensor (torchvision's ToTensor + default collate). */
export function toBatch(images: readonly ChwImage[]): Tensor {
  if (images.length === 0) throw new ShapeError('toBatch: no images');
  const { channels, height, width } = images[0];
  const size = channels * height * width;
  const data = new Float32Array(images.length * size);
  images.forEach((image, n) => {
    if (image.channels !== channels || image.height !== height || image.width !== width) {
      throw new ShapeError(
        `toBatch: image ${n} is [${image.channels}, ${image.height}, ${image.width}], ` +
          `image 0 is [${channels}, ${height}, ${width}]`,
      );
    }
    data.set(image.data, n * size);
  });
  return tensor(data, [images.length, channels, height, width]);
}

/** One image as a [C, H, W] tensor. */
export function imageToTensor(image: ChwImage): Tensor {
  return tensor(image.data, [image.channels, image.height, image.width]);
}
