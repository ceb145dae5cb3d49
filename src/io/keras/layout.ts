/**
 * The layout Keras 2 writes into an `.h5` file (`save_weights`, or `model.save` under `model_weights`): a
 * `layer_names` attribute listing the layers in order, one group per layer with a `weight_names` attribute, and each
 * weight a dataset at `<layer>/<weight name>` (`conv1_conv/conv1_conv/kernel:0`).
 */
import { FormatError } from '../../errors.js';
import { Hdf5Dataset, Hdf5Group, type Hdf5File } from '../hdf5/index.js';

/** A layer's weights by their short name (`kernel`, `bias`, `gamma`, `moving_mean`, …). */
export type KerasLayers = Map<string, Map<string, Hdf5Dataset>>;

/** Keras splits an attribute past HDF5's 64 KiB header limit into `name0`, `name1`, …; this joins them back. */
function stringList(group: Hdf5Group, name: string): string[] | undefined {
  const whole = group.attribute(name);
  const parts = whole === undefined ? chunks(group, name) : [whole];
  if (parts === undefined) return undefined;
  // An empty list is written as an empty float64 array, not as strings.
  return parts.flatMap((part) => part.values.map(String));
}

function chunks(group: Hdf5Group, name: string) {
  const names = new Set(group.attributeNames());
  if (!names.has(`${name}0`)) return undefined;
  const parts = [];
  for (let i = 0; names.has(`${name}${i}`); i++)
    parts.push(group.attribute(`${name}${i}`) as NonNullable<ReturnType<Hdf5Group['attribute']>>);
  return parts;
}

/** Every layer that has weights, in the file's order, with its datasets (values not read yet). */
export function kerasLayers(file: Hdf5File): KerasLayers {
  const nested = file.root.get('model_weights');
  const root = nested instanceof Hdf5Group ? nested : file.root;
  const layerNames = stringList(root, 'layer_names');
  if (layerNames === undefined) {
    const keras3 = file.root.get('layers') !== undefined || file.root.get('vars') !== undefined;
    throw new FormatError(
      keras3
        ? "Keras: this is Keras 3's .weights.h5 layout (layers/…/vars), which is not supported; save with Keras 2's save_weights('x.h5')"
        : `Keras: no layer_names attribute at ${root.path}: not a Keras weights file`,
    );
  }
  const layers: KerasLayers = new Map();
  for (const layer of layerNames) {
    const group = root.get(layer);
    if (!(group instanceof Hdf5Group))
      throw new FormatError(`Keras: layer '${layer}' has no group in the file`);
    const weightNames = stringList(group, 'weight_names');
    if (weightNames === undefined)
      throw new FormatError(`Keras: layer '${layer}' has no weight_names attribute`);
    if (weightNames.length === 0) continue;
    const weights = new Map<string, Hdf5Dataset>();
    for (const weightName of weightNames) {
      const dataset = group.get(weightName);
      if (!(dataset instanceof Hdf5Dataset))
        throw new FormatError(`Keras: weight '${weightName}' of layer '${layer}' has no dataset`);
      // 'conv1_conv/kernel:0' → 'kernel'.
      const short = weightName.split('/').pop()?.replace(/:\d+$/, '') ?? weightName;
      if (weights.has(short))
        throw new FormatError(`Keras: layer '${layer}' has two weights named '${short}'`);
      weights.set(short, dataset);
    }
    if (layers.has(layer)) throw new FormatError(`Keras: layer '${layer}' is listed twice in layer_names`);
    layers.set(layer, weights);
  }
  return layers;
}
