import { constants, crc32, deflateRawSync } from 'node:zlib';
import { readCifarBatches } from '../../src/data/datasets/cifar.js';
import { readIdxImages } from '../../src/data/datasets/idx.js';
import { loadPth, loadSafetensors, readNpy } from '../../src/io/index.js';
import { ascii, concat, stateDictPickle, storedZip } from './helpers.js';

/**
 * Small files built to make a reader allocate far more than their size can justify: compressed zeros behind a zip
 * entry or a gzip stream, views that repeat one element, headers of countless empty values. Each must end in a
 * FormatError before the reader allocates what it claims. They are read from a file, through the public readers.
 */
export interface HostileFile {
  /** What the file holds, for reports. */
  name: string;
  build(): Uint8Array;
  /** What the FormatError must say: the field at fault. */
  refusal: RegExp;
  /** Reads the file at `path` the way a user would. */
  read(path: string): Promise<unknown>;
}

/** What the zip entries and gzip streams claim to hold: 2.6 GB, as in the probe that found these files. */
const CLAIMED_BYTES = 2_600_000_000;
const ZERO_CHUNK = 1 << 20;

/**
 * A raw deflate stream of `prefix` then `zeros` zero bytes, built from one compressed megabyte repeated (each copy
 * ends on a full flush, so copies join), and the CRC-32 of what it inflates to.
 */
function deflatedZeros(
  zeros: number,
  prefix: Uint8Array = new Uint8Array(0),
): { compressed: Uint8Array; crc: number } {
  const flush = { level: 9, finishFlush: constants.Z_FULL_FLUSH };
  const chunk = new Uint8Array(ZERO_CHUNK);
  const block = deflateRawSync(chunk, flush);
  const whole = Math.floor(zeros / ZERO_CHUNK);
  const rest = zeros - whole * ZERO_CHUNK;
  let crc = crc32(prefix);
  for (let i = 0; i < whole; i++) crc = crc32(chunk, crc);
  crc = crc32(chunk.subarray(0, rest), crc);
  const parts = [
    deflateRawSync(prefix, flush),
    ...Array.from({ length: whole }, () => block),
    deflateRawSync(chunk.subarray(0, rest), flush),
    Uint8Array.of(0x03, 0x00), // a final empty block
  ];
  return { compressed: concat(...parts), crc: crc >>> 0 };
}

/** A gzip member (RFC 1952) around deflatedZeros. */
function gzippedZeros(zeros: number, prefix: Uint8Array = new Uint8Array(0)): Uint8Array {
  const { compressed, crc } = deflatedZeros(zeros, prefix);
  const trailer = new DataView(new ArrayBuffer(8));
  trailer.setUint32(0, crc, true);
  trailer.setUint32(4, (prefix.length + zeros) % 2 ** 32, true);
  const header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
  return concat(header, compressed, new Uint8Array(trailer.buffer));
}

/** A torch archive whose `entry` ('data.pkl' or 'data/0') is CLAIMED_BYTES of deflated zeros. */
function pthWithZeroEntry(entry: string): Uint8Array {
  const pickle = stateDictPickle([{ key: 'w', numel: 6, size: [6], stride: [1] }]);
  const { compressed, crc } = deflatedZeros(CLAIMED_BYTES);
  const zeros = { name: `archive/${entry}`, compressed, size: CLAIMED_BYTES, crc };
  const storage = new Uint8Array(24);
  return storedZip(
    entry === 'data.pkl' ? [zeros, ['archive/data/0', storage]] : [['archive/data.pkl', pickle], zeros],
  );
}

const STRIDE_ZERO_VIEWS = 40;
const STRIDE_ZERO_ELEMENTS = 1 << 24;

/** A safetensors file of no data whose header is `json`. */
function safetensorsHeader(json: Uint8Array): Uint8Array {
  const length = new DataView(new ArrayBuffer(8));
  length.setBigUint64(0, BigInt(json.length), true);
  return concat(new Uint8Array(length.buffer), json);
}

/** A safetensors header declaring `count` tensors of shape [0] and no data. */
function emptyTensorsHeader(count: number): Uint8Array {
  const entries = Array.from(
    { length: count },
    (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`,
  );
  return safetensorsHeader(ascii(`{${entries.join(',')}}`));
}

/** A .npy file (format 2.0) whose header dict carries `count` empty lists under an extra key. */
function npyHeaderOfEmptyLists(count: number): Uint8Array {
  const text = `{'descr': '<f4', 'fortran_order': False, 'shape': (0,), 'x': [${'[],'.repeat(count)}]}\n`;
  const header = new DataView(new ArrayBuffer(12));
  [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0].forEach((b, i) => header.setUint8(i, b));
  header.setUint32(8, text.length, true);
  return concat(new Uint8Array(header.buffer), ascii(text));
}

/** The header of an IDX images file of the given dimensions. */
function idxHeader(dimensions: number[]): Uint8Array {
  const view = new DataView(new ArrayBuffer(4 + 4 * dimensions.length));
  view.setUint32(0, 0x00000803);
  dimensions.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  return new Uint8Array(view.buffer);
}

const CIFAR10 = { labelBytes: 1, labelIndex: 0, numClasses: 10 } as const;
/** Whole 3073-byte CIFAR-10 records (black images of class 0) adding up to about CLAIMED_BYTES. */
const CIFAR_ZERO_BYTES = 3073 * Math.floor(CLAIMED_BYTES / 3073);

const disposeAll = (tensors: Map<string, { dispose(): void }>): void => {
  for (const t of tensors.values()) t.dispose();
};

export const HOSTILE_FILES: HostileFile[] = [
  {
    name: '.pth whose storage entry is 2.6 GB of deflated zeros (the pickle says 6 floats)',
    refusal: /entry 'archive\/data\/0': storage '0' holds 2600000000 bytes, but 6 float32 elements need 24/,
    build: () => pthWithZeroEntry('data/0'),
    read: async (path) => disposeAll(await loadPth(path)),
  },
  {
    name: '.pth whose data.pkl is 2.6 GB of deflated zeros',
    refusal:
      /entry 'archive\/data\.pkl' needs 2600000000 bytes, which would take what this file expands to past/,
    build: () => pthWithZeroEntry('data.pkl'),
    read: async (path) => disposeAll(await loadPth(path)),
  },
  {
    name: `.pth of ${STRIDE_ZERO_VIEWS} stride-0 views of 2^24 floats over a 1-float storage`,
    refusal: /'w4': 16777216 elements over a 1-element storage needs 67108864 bytes/,
    build: () =>
      storedZip([
        [
          'archive/data.pkl',
          stateDictPickle(
            Array.from({ length: STRIDE_ZERO_VIEWS }, (_, i) => ({
              key: `w${i}`,
              numel: 1,
              size: [STRIDE_ZERO_ELEMENTS],
              stride: [0],
            })),
          ),
        ],
        ['archive/data/0', new Uint8Array(4)],
      ]),
    read: async (path) => disposeAll(await loadPth(path)),
  },
  {
    name: '.pth whose data.pkl is 20 MB of EMPTY_DICT opcodes',
    refusal: /data\.pkl offset \d+ \(EMPTY_DICT\): the pickle builds more than 268435456 bytes of values/,
    build: () =>
      storedZip([['archive/data.pkl', concat([0x80, 0x02], new Uint8Array(20_000_000).fill(0x7d), [0x2e])]]),
    read: async (path) => disposeAll(await loadPth(path)),
  },
  {
    name: 'safetensors header of 300,000 zero-size tensors',
    refusal: /the header lists more than 65536 tensors/,
    build: () => emptyTensorsHeader(300_000),
    read: async (path) => disposeAll((await loadSafetensors(path)).tensors),
  },
  {
    name: 'safetensors header whose one tensor carries 5.6 million empty objects in an extra field',
    refusal: /tensor 'a': entry is 16800057 characters of JSON, more than a dtype, shape and offsets need/,
    build: () =>
      safetensorsHeader(
        ascii(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":[${'{},'.repeat(5_600_000)}{}]}}`),
      ),
    read: async (path) => disposeAll((await loadSafetensors(path)).tensors),
  },
  {
    name: '.npy header of 16 million empty lists',
    refusal: /npy: header length 48000065 exceeds 10000 bytes/,
    build: () => npyHeaderOfEmptyLists(16_000_000),
    read: async (path) => (await readNpy(path)).dispose(),
  },
  {
    name: 'gzipped IDX declaring 10 images of 28×28, inflating to 2.6 GB',
    refusal: /gzip data inflates past the 7856 bytes the header declares/,
    build: () => gzippedZeros(CLAIMED_BYTES, idxHeader([10, 28, 28])),
    read: async (path) => readIdxImages(path),
  },
  {
    name: 'gzipped IDX declaring 3.3 million images of 28×28 (2.6 GB) in a 2.6 MB file',
    refusal: /the header declares 2599999600 bytes, more than the \d+ a \d+-byte gzip file may inflate to/,
    build: () => {
      const count = Math.floor(CLAIMED_BYTES / 784);
      return gzippedZeros(count * 784, idxHeader([count, 28, 28]));
    },
    read: async (path) => readIdxImages(path),
  },
  {
    name: 'gzipped CIFAR-10 batch of 2.6 GB of zeros (846,000 records)',
    refusal: /gzip's size field declares 2599997694 bytes, more than/,
    build: () => gzippedZeros(CIFAR_ZERO_BYTES),
    read: async (path) => readCifarBatches([path], CIFAR10),
  },
];
