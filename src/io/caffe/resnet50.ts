/**
 * Kaiming He's ResNet-50 Caffe release (ResNet-50-model.caffemodel) onto torchvision's resnet50 keys. The table is
 * generated from the network's layout (blocks [3, 4, 6, 3], Caffe's naming: res2a_branch2a, bn2a_branch2a,
 * scale2a_branch2a, res2a_branch1, …) rather than written out, one entry per torchvision module.
 *
 * The shapes agree, but the networks do not quite: the Caffe model is the original ResNet, its stride-2 blocks
 * striding in the first 1×1 convolution, where torchvision's v1.5 strides in the 3×3; and it takes BGR images in
 * 0–255 less the mean image. Loaded into torchvision's resnet50 the weights run the v1.5 layout.
 */
import { FormatError } from '../../errors.js';
import { tensor, type Tensor } from '../../tensor/index.js';
import type { CaffeBlob, CaffeWeights } from './caffemodel.js';

/** Where one torchvision module's tensors come from in a caffemodel. */
export type CaffeModuleSource =
  | { kind: 'conv'; module: string; layer: string }
  /** A BatchNorm and the Scale after it; `conv` is the convolution before, whose bias (if any) folds into the mean. */
  | { kind: 'batchnorm'; module: string; layer: string; scale: string; conv: string }
  | { kind: 'linear'; module: string; layer: string };

const RESNET50_BLOCKS = [3, 4, 6, 3];

/** The ResNet-50 Caffe layers behind every module of torchvision's resnet50 with weights, in the network's order. */
export function resnet50CaffeTable(): CaffeModuleSource[] {
  const table: CaffeModuleSource[] = [];
  const convBn = (conv: string, bn: string, caffeConv: string, caffeSuffix: string) => {
    table.push({ kind: 'conv', module: conv, layer: caffeConv });
    table.push({
      kind: 'batchnorm',
      module: bn,
      layer: `bn${caffeSuffix}`,
      scale: `scale${caffeSuffix}`,
      conv: caffeConv,
    });
  };
  convBn('conv1', 'bn1', 'conv1', '_conv1');
  RESNET50_BLOCKS.forEach((blocks, s) => {
    const stage = s + 2;
    for (let b = 0; b < blocks; b++) {
      const block = `${stage}${String.fromCharCode(97 + b)}`; // 2a, 2b, …
      const prefix = `layer${s + 1}.${b}`;
      ['2a', '2b', '2c'].forEach((branch, i) =>
        convBn(
          `${prefix}.conv${i + 1}`,
          `${prefix}.bn${i + 1}`,
          `res${block}_branch${branch}`,
          `${block}_branch${branch}`,
        ),
      );
      if (b === 0)
        convBn(`${prefix}.downsample.0`, `${prefix}.downsample.1`, `res${block}_branch1`, `${block}_branch1`);
    }
  });
  table.push({ kind: 'linear', module: 'fc', layer: 'fc1000' });
  return table;
}

/**
 * A caffemodel's blobs as a state dict under the table's torchvision keys: convolution weights as they are, each
 * BatchNorm's statistics divided by its scale factor and joined with its Scale's gamma and beta (the convolution's
 * bias, where it has one, subtracted from the mean: BN(conv + b) is BN with mean − b), the classifier as [out, in].
 * A layer missing from the file is a FormatError naming it.
 */
export function caffeStateDict(
  weights: CaffeWeights,
  table: readonly CaffeModuleSource[],
): Map<string, Tensor> {
  const byName = new Map<string, CaffeBlob[]>();
  for (const layer of weights.layers) if (!byName.has(layer.name)) byName.set(layer.name, layer.blobs);
  const blob = (layer: string, index: number, what: string): CaffeBlob => {
    const found = byName.get(layer)?.[index];
    if (found === undefined)
      throw new FormatError(`Caffe layer '${layer}': no ${what} (blob ${index}) in the caffemodel`);
    return found;
  };
  const state = new Map<string, Tensor>();
  const vector = (values: Float32Array) => tensor(values, [values.length]);
  for (const source of table) {
    if (source.kind === 'conv') {
      const weight = blob(source.layer, 0, 'weight');
      if (weight.shape.length !== 4)
        throw new FormatError(`Caffe layer '${source.layer}': weight is not 4-D`);
      state.set(`${source.module}.weight`, tensor(weight.data, weight.shape));
    } else if (source.kind === 'linear') {
      const weight = blob(source.layer, 0, 'weight');
      const bias = blob(source.layer, 1, 'bias');
      const outputs = bias.data.length;
      if (outputs === 0 || weight.data.length % outputs !== 0)
        throw new FormatError(
          `Caffe layer '${source.layer}': weight of ${weight.data.length} values for ${outputs} outputs`,
        );
      state.set(`${source.module}.weight`, tensor(weight.data, [outputs, weight.data.length / outputs]));
      state.set(`${source.module}.bias`, vector(bias.data));
    } else {
      const factor = blob(source.layer, 2, 'scale factor').data[0];
      const divide = factor === 0 ? 0 : 1 / factor;
      const convBias = byName.get(source.conv)?.[1]?.data;
      const mean = blob(source.layer, 0, 'mean').data.map((v, c) => v * divide - (convBias?.[c] ?? 0));
      const gamma = blob(source.scale, 0, 'scale').data;
      const beta = byName.get(source.scale)?.[1]?.data ?? new Float32Array(gamma.length);
      state.set(`${source.module}.weight`, vector(gamma));
      state.set(`${source.module}.bias`, vector(beta));
      state.set(`${source.module}.running_mean`, vector(mean));
      state.set(
        `${source.module}.running_var`,
        vector(blob(source.layer, 1, 'variance').data.map((v) => v * divide)),
      );
    }
  }
  return state;
}
