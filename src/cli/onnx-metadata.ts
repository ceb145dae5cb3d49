/**
 * What `convnets export` writes into an ONNX file's metadata_props about a checkpoint's inputs, and `convnets
 * predict` reads back: the data's image shape, the test-time transform and the class names, so that an exported
 * model is fed images prepared as in training.
 */
import { FormatError } from '../errors.js';
import type { TransformSpec } from '../data/index.js';
import type { Preprocessing, Trained } from '../train/index.js';

const KEYS = {
  imageShape: 'convnets.image_shape',
  transform: 'convnets.transform',
  classNames: 'convnets.class_names',
  preprocessing: 'convnets.preprocessing',
} as const;

/** A checkpoint's input rules as it is exported. */
export interface ExportedInputs {
  imageShape: readonly [number, number, number];
  transform: TransformSpec;
  classNames: readonly string[];
  preprocessing: Preprocessing | null;
}

/** The metadata_props of a checkpoint exported at its own input shape. */
export function inputsMetadata(trained: Trained): Record<string, string> {
  return {
    [KEYS.imageShape]: JSON.stringify(trained.imageShape),
    [KEYS.transform]: JSON.stringify(trained.transform),
    [KEYS.classNames]: JSON.stringify(trained.classNames),
    ...(trained.preprocessing === null
      ? {}
      : { [KEYS.preprocessing]: JSON.stringify(trained.preprocessing) }),
  };
}

/** The input rules stored in an ONNX file's metadata by convnets export; null for any other file. */
export function exportedInputs(
  metadata: Readonly<Record<string, string>>,
  path: string,
): ExportedInputs | null {
  if (metadata[KEYS.transform] === undefined) return null;
  const parse = (key: string): unknown => {
    try {
      return JSON.parse(metadata[key] ?? 'null');
    } catch {
      throw new FormatError(`${path}: metadata '${key}' is not JSON`);
    }
  };
  const imageShape = parse(KEYS.imageShape);
  const classNames = parse(KEYS.classNames) ?? [];
  if (
    !Array.isArray(imageShape) ||
    imageShape.length !== 3 ||
    !imageShape.every((d) => Number.isInteger(d) && d > 0)
  )
    throw new FormatError(`${path}: metadata '${KEYS.imageShape}' is not [C, H, W]`);
  if (!Array.isArray(classNames) || !classNames.every((name) => typeof name === 'string'))
    throw new FormatError(`${path}: metadata '${KEYS.classNames}' is not a list of names`);
  return {
    imageShape: imageShape as [number, number, number],
    transform: parse(KEYS.transform) as TransformSpec,
    classNames,
    preprocessing: parse(KEYS.preprocessing) as Preprocessing | null,
  };
}
