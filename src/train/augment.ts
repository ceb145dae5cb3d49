/**
 * `--augment`: a comma-separated list of the augmentations the course names, each with optional parameters after
 * a colon: `flip,crop:4,rotate:15,warp:34,4`. A bare number after an item is one more parameter of that item (so
 * `warp:alpha,sigma` reads as written). `none` is no augmentation; `crop-flip` is `crop:4,flip`.
 */
import { ValueError } from '../errors.js';
import { transforms, type PcaLighting, type TransformSpec } from '../data/index.js';

interface AugmentRule {
  /** Parameter names, and their defaults. */
  parameters: readonly { name: string; default: number; check: (v: number) => boolean; range: string }[];
  help: string;
  build(values: number[], context: AugmentContext): TransformSpec;
}

/** What augmentations are built for: the model's input, and the PCA that pca needs. */
export interface AugmentContext {
  /** The model's input [C, H, W]: crops are cut to it. */
  inputShape: readonly [number, number, number];
  /** Needed by pca (AlexNet's colour augmentation); computed from the training images. */
  pca?: PcaLighting;
}

const positive = { check: (v: number) => v > 0, range: '> 0' };
const nonNegative = { check: (v: number) => v >= 0, range: '≥ 0' };

const RULES: Record<string, AugmentRule> = {
  flip: { parameters: [], help: 'mirror left–right, p 0.5', build: () => transforms.randomHorizontalFlip() },
  vflip: { parameters: [], help: 'mirror top–bottom, p 0.5', build: () => transforms.randomVerticalFlip() },
  crop: {
    parameters: [
      { name: 'padding', default: 4, check: (v) => Number.isInteger(v) && v >= 0, range: 'an integer ≥ 0' },
    ],
    help: 'zero-pad by P, then a random crop of the input size',
    build: ([padding], { inputShape }) => transforms.randomCrop([inputShape[1], inputShape[2]], { padding }),
  },
  'resized-crop': {
    parameters: [{ name: 'min-scale', default: 0.08, check: (v) => v > 0 && v <= 1, range: 'in (0, 1]' }],
    help: 'a random window of at least MIN of the area, aspect 3/4–4/3, resized to the input (Inception)',
    build: ([minScale], { inputShape }) =>
      transforms.randomResizedCrop([inputShape[1], inputShape[2]], { scale: [minScale, 1] }),
  },
  erase: {
    parameters: [{ name: 'p', default: 0.5, check: (v) => v >= 0 && v <= 1, range: 'in [0, 1]' }],
    help: 'random erasing, p 0.5: a box of 2–40 % of the area filled with random values (Zhong et al. 2017)',
    build: ([p]) => transforms.randomErasing({ p }),
  },
  rotate: {
    parameters: [{ name: 'degrees', default: 15, ...nonNegative }],
    help: 'rotate by up to ±D degrees',
    build: ([degrees]) => transforms.randomRotation(degrees),
  },
  shear: {
    parameters: [{ name: 'degrees', default: 10, ...nonNegative }],
    help: 'shear along x by up to ±D degrees',
    build: ([degrees]) => transforms.randomAffine({ degrees: 0, shear: degrees }),
  },
  warp: {
    parameters: [
      { name: 'alpha', default: 34, ...nonNegative },
      { name: 'sigma', default: 4, ...positive },
    ],
    help: 'elastic distortion of strength ALPHA pixels smoothed by SIGMA (Simard et al. 2003)',
    build: ([alpha, sigma]) => transforms.elasticTransform({ alpha, sigma }),
  },
  color: {
    parameters: [{ name: 'scale', default: 0.1, ...nonNegative }],
    help: 'add N(0, S²) to each channel',
    build: ([scale]) => transforms.colorShift({ scale }),
  },
  pca: {
    parameters: [{ name: 'alpha-std', default: 0.1, ...nonNegative }],
    help: "AlexNet's PCA colour shift, eigenvectors of the training images' RGB covariance",
    build: ([alphaStd], { pca, inputShape }) => {
      if (inputShape[0] !== 3)
        throw new ValueError(
          `--augment pca needs RGB input, and this model takes ${inputShape[0]} channel(s)`,
        );
      if (pca === undefined)
        throw new ValueError('--augment pca: no PCA of the training images was computed');
      return transforms.pcaLighting(pca, { alphaStd });
    },
  },
};

/** One parsed --augment item: its name and its parameters (defaults filled in). */
export interface AugmentItem {
  name: string;
  values: number[];
}

/** The one-line list of what --augment takes, for help and errors. */
export const AUGMENT_HELP = Object.entries(RULES)
  .map(([name, rule]) =>
    rule.parameters.length === 0
      ? name
      : `${name}:${rule.parameters.map((p) => p.name.toUpperCase()).join(',')}`,
  )
  .join(', ');

/** Levenshtein distance, for "did you mean" (the CLI has its own; train/ may not import it). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = row;
  }
  return previous[b.length];
}

/** Parses an --augment list (see the top of this file); each error names the item and what it takes. */
export function parseAugment(text: string): AugmentItem[] {
  const trimmed = text.trim();
  if (trimmed === 'none' || trimmed === '') return [];
  const items: { name: string; raw: string[] }[] = [];
  for (const token of trimmed.split(',').map((t) => t.trim())) {
    if (token === '') throw new ValueError(`--augment '${text}': an empty item`);
    if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(token) && items.length > 0) {
      items[items.length - 1].raw.push(token);
      continue;
    }
    if (token === 'crop-flip') {
      items.push({ name: 'crop', raw: [] }, { name: 'flip', raw: [] });
      continue;
    }
    const [name, ...rest] = token.split(':');
    if (rest.length > 1) throw new ValueError(`--augment ${token}: one colon, then the parameters`);
    items.push({ name, raw: rest.length === 1 ? [rest[0]] : [] });
  }
  return items.map(({ name, raw }) => {
    const rule = RULES[name];
    if (rule === undefined) {
      const near = Object.keys(RULES).find((known) => editDistance(name, known) <= 2);
      throw new ValueError(
        `--augment: unknown '${name}'${near ? ` (did you mean ${near}?)` : ''}; known: ${AUGMENT_HELP}`,
      );
    }
    const { parameters } = rule;
    if (raw.length > parameters.length)
      throw new ValueError(
        `--augment ${name} takes ${parameters.length === 0 ? 'no parameters' : `at most ${parameters.length} (${parameters.map((p) => p.name).join(', ')})`}, got ${raw.join(',')}`,
      );
    const values = parameters.map((parameter, i) => {
      if (i >= raw.length) return parameter.default;
      const value = Number(raw[i]);
      if (raw[i].trim() === '' || !Number.isFinite(value) || !parameter.check(value))
        throw new ValueError(
          `--augment ${name}: ${parameter.name} must be ${parameter.range}, got '${raw[i]}'`,
        );
      return value;
    });
    return { name, values };
  });
}

/** The transforms of parsed items, in the order given. */
export function augmentTransforms(items: readonly AugmentItem[], context: AugmentContext): TransformSpec[] {
  return items.map((item) => RULES[item.name].build(item.values, context));
}

/** The canonical text of parsed items: `crop:4,flip`. */
export function formatAugment(items: readonly AugmentItem[]): string {
  if (items.length === 0) return 'none';
  return items
    .map((item) => (item.values.length === 0 ? item.name : `${item.name}:${item.values.join(',')}`))
    .join(',');
}
