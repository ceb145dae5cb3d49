import { FormatError } from '../errors.js';
import { tensor, type Tensor } from '../tensor/index.js';
import {
  decodeElements,
  elementCount,
  elementSize,
  encodeElements,
  inFile,
  readSource,
  writeAtomic,
  type ElementType,
  type Source,
} from './common.js';

/** NumPy's `.npy` format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html */
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Little-endian descriptors convnets reads, by the element type they hold. */
const DESCRIPTORS = new Map<string, ElementType>([
  ['<f4', 'float32'],
  ['<f8', 'float64'],
  ['<f2', 'float16'],
  ['<i4', 'int32'],
  ['<i8', 'int64'],
  ['<i2', 'int16'],
  ['|i1', 'int8'],
  ['|u1', 'uint8'],
  ['|b1', 'bool'],
]);

/** The header of a .npy file. */
export interface NpyHeader {
  /** Format version, [major, minor]: 1.0 (2-byte header length), 2.0 (4-byte), 3.0 (4-byte, UTF-8 header). */
  version: [number, number];
  /** NumPy's dtype descriptor, such as '<f4'. */
  descr: string;
  elementType: ElementType;
  shape: number[];
  /** Where the values start. */
  dataOffset: number;
}

// ---- the header: a Python dict literal ----

type Literal = string | number | boolean | null | Literal[] | Map<string, Literal>;

/**
 * NumPy's own bound on a header (np.load's max_header_size, 10,000 bytes): it refuses longer ones as unsafe to parse,
 * and writes none longer (a 32-dimension shape takes under 1,000). A header of countless values would otherwise cost
 * far more memory to parse than its bytes.
 */
const MAX_NPY_HEADER_BYTES = 10_000;

/** Nesting deeper than this is no header NumPy writes; the bound keeps a hostile file off the call stack. */
const MAX_DEPTH = 16;

/** Parses the subset of Python literals NumPy headers use: dicts, tuples/lists, strings, integers, booleans. */
class LiteralParser {
  private at = 0;

  constructor(private readonly text: string) {}

  parseAll(): Literal {
    const value = this.value(0);
    this.skipSpace();
    if (this.at !== this.text.length) this.fail(`unexpected '${this.text[this.at]}'`);
    return value;
  }

  private fail(message: string): never {
    throw new FormatError(`npy: header ${message} at character ${this.at}`);
  }

  private skipSpace(): void {
    while (this.at < this.text.length && /\s/.test(this.text[this.at])) this.at++;
  }

  private value(depth: number): Literal {
    if (depth > MAX_DEPTH) this.fail('nests too deeply');
    this.skipSpace();
    const c = this.text[this.at];
    if (c === undefined) this.fail('ends early');
    if (c === "'" || c === '"') return this.string(c);
    if (c === '{') return this.dict(depth);
    if (c === '(' || c === '[') return this.sequence(c === '(' ? ')' : ']', depth);
    const word = /^(True|False|None|-?\d+L?)/.exec(this.text.slice(this.at, this.at + 32));
    if (word === null) this.fail(`has '${c}' where a value should be`);
    this.at += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    const n = Number(word[0].replace('L', ''));
    if (!Number.isSafeInteger(n)) this.fail(`integer ${word[0]} is too large`);
    return n;
  }

  private string(quote: string): string {
    const end = this.text.indexOf(quote, this.at + 1);
    if (end < 0) this.fail('has an unterminated string');
    const s = this.text.slice(this.at + 1, end);
    if (s.includes('\\')) this.fail('has an escaped string, which no NumPy dtype needs');
    this.at = end + 1;
    return s;
  }

  /** Items up to `close`, comma separated, a trailing comma allowed. */
  private items(close: string, item: () => void): void {
    this.at++;
    for (;;) {
      this.skipSpace();
      if (this.at >= this.text.length) this.fail('ends early');
      if (this.text[this.at] === close) break;
      item();
      this.skipSpace();
      if (this.at >= this.text.length) this.fail('ends early');
      if (this.text[this.at] === ',') this.at++;
      else if (this.text[this.at] !== close) this.fail(`expects ',' or '${close}'`);
    }
    this.at++;
  }

  private sequence(close: string, depth: number): Literal[] {
    const out: Literal[] = [];
    this.items(close, () => out.push(this.value(depth + 1)));
    return out;
  }

  private dict(depth: number): Map<string, Literal> {
    const out = new Map<string, Literal>();
    this.items('}', () => {
      const key = this.value(depth + 1);
      if (typeof key !== 'string') this.fail('has a key that is not a string');
      this.skipSpace();
      if (this.text[this.at] !== ':') this.fail(`expects ':' after '${key}'`);
      this.at++;
      out.set(key, this.value(depth + 1));
    });
    return out;
  }
}

/** Reads and checks the header: version, dtype, order and shape, and that the data is exactly the size they say. */
export function parseNpyHeader(bytes: Uint8Array): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new FormatError('npy: not a .npy file (the magic string \\x93NUMPY is missing)');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (major < 1 || major > 3 || minor !== 0) {
    throw new FormatError(`npy: format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major > 1 && bytes.length < 12) throw new FormatError('npy: file ends inside the header length');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (headerLength > MAX_NPY_HEADER_BYTES) {
    throw new FormatError(
      `npy: header length ${headerLength} exceeds ${MAX_NPY_HEADER_BYTES} bytes, NumPy's own limit (max_header_size)`,
    );
  }
  const dataOffset = headerStart + headerLength;
  if (dataOffset > bytes.length) {
    throw new FormatError(
      `npy: header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  const headerBytes = bytes.subarray(headerStart, dataOffset);
  // Versions 1 and 2 write latin-1, version 3 UTF-8; the fields convnets reads are ASCII either way.
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  const header = new LiteralParser(text).parseAll();
  if (!(header instanceof Map)) throw new FormatError('npy: header is not a dict');
  const keys = [...header.keys()].sort().join(', ');
  if (keys !== 'descr, fortran_order, shape') {
    throw new FormatError(`npy: header has keys ${keys}; expected descr, fortran_order, shape`);
  }
  const descr = header.get('descr');
  const fortranOrder = header.get('fortran_order');
  const shape = header.get('shape');
  if (typeof descr !== 'string') {
    throw new FormatError(
      'npy: descr is a structured dtype, which is not supported (plain numeric arrays are)',
    );
  }
  if (typeof fortranOrder !== 'boolean') throw new FormatError('npy: fortran_order is not True or False');
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number')) {
    throw new FormatError('npy: shape is not a tuple of integers');
  }
  const elementType = DESCRIPTORS.get(descr);
  if (elementType === undefined) {
    if (descr.startsWith('>')) {
      throw new FormatError(
        `npy: descr '${descr}' is big-endian, which is not supported; save with arr.astype('<${descr.slice(1)}')`,
      );
    }
    throw new FormatError(
      `npy: descr '${descr}' is not supported (supported: ${[...DESCRIPTORS.keys()].join(', ')})`,
    );
  }
  if (fortranOrder) {
    throw new FormatError(
      'npy: fortran_order is True (column-major), which is not supported; save np.ascontiguousarray(arr)',
    );
  }
  const dims = shape as number[];
  const count = elementCount(dims, 'npy: shape');
  const needed = count * elementSize[elementType];
  const available = bytes.length - dataOffset;
  if (needed !== available) {
    throw new FormatError(
      `npy: shape [${dims.join(', ')}] of '${descr}' needs ${needed} bytes of data, the file has ${available}`,
    );
  }
  return { version: [major, minor], descr, elementType, shape: dims, dataOffset };
}

/**
 * A tensor from a `.npy` file's bytes: float32 as is; float64 and float16 rounded to float32 (float64 loses
 * precision); int32 as is; int64 to int32, an error naming any value int32 cannot hold; int16/int8/uint8/bool to
 * int32. Little-endian C-order only.
 */
export function decodeNpy(bytes: Uint8Array): Tensor {
  const header = parseNpyHeader(bytes);
  const count = elementCount(header.shape, 'npy: shape');
  const values = decodeElements(bytes, header.dataOffset, count, header.elementType, 'npy');
  return tensor(values, header.shape, { dtype: values instanceof Int32Array ? 'int32' : 'float32' });
}

function npyHeaderBytes(t: Tensor): Uint8Array {
  const descr = t.dtype === 'int32' ? '<i4' : '<f4';
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // NumPy pads the header with spaces and ends it with '\n' so the data starts on a 64-byte boundary.
  const version = dict.length + 12 > 65535 ? 2 : 1;
  const prefix = version === 1 ? 10 : 12;
  dict += ' '.repeat((64 - ((prefix + dict.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(prefix + dict.length);
  out.set(MAGIC);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  return out;
}

/** The `.npy` bytes of a tensor (format 1.0, or 2.0 for a header too long for it), '<f4' or '<i4'. */
export function encodeNpy(t: Tensor): Uint8Array {
  const header = npyHeaderBytes(t);
  const data = encodeElements(t.data());
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

/** Reads a `.npy` file (or its bytes); see decodeNpy for the dtypes. */
export async function readNpy(source: Source): Promise<Tensor> {
  const { bytes, name } = await readSource(source);
  return inFile(name, () => decodeNpy(bytes));
}

/** Writes a tensor to a `.npy` file, atomically: a temporary file renamed over `path` once complete. */
export async function writeNpy(path: string, t: Tensor): Promise<void> {
  const header = npyHeaderBytes(t);
  const data = encodeElements(t.data());
  await writeAtomic(path, async (sink) => {
    await sink.write(header);
    await sink.write(data);
  });
}
