import { FormatError, ValueError } from '../errors.js';
import { tensor, type Tensor } from '../tensor/index.js';
import { decodeElements, elementCount, elementSize, encodeElements, type ElementType } from './elements.js';

/**
 * The safetensors format as bytes, Node-free (the browser entry exports it); safetensors.ts reads and writes files.
 *
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON header
 * mapping each name to {dtype, shape, data_offsets} (offsets relative to the data after the header) plus an
 * optional `__metadata__` string map, then the data, every byte of it belonging to exactly one tensor.
 */
const DTYPES = new Map<string, ElementType>([
  ['F32', 'float32'],
  ['F64', 'float64'],
  ['F16', 'float16'],
  ['BF16', 'bfloat16'],
  ['I64', 'int64'],
  ['I32', 'int32'],
  ['I16', 'int16'],
  ['I8', 'int8'],
  ['U8', 'uint8'],
  ['BOOL', 'bool'],
]);

/** The reference implementation refuses headers past 100 MB; so does this one. */
const MAX_HEADER_BYTES = 100_000_000;
/**
 * Tensors a file may hold. Each costs this reader about 1.5 KB (its entry and its Tensor, even at size zero), so the
 * bound keeps a header of countless empty tensors near 100 MB; models hold a few thousand at most (ResNet-152: 930).
 */
const MAX_SAFETENSORS_TENSORS = 65_536;
/**
 * The longest JSON text one tensor's entry may take: a dtype, a shape and two offsets need about 100 characters;
 * the bound keeps what JSON.parse builds from one entry to a few tens of MB.
 */
const MAX_ENTRY_CHARS = 1 << 20;
/** `__metadata__` pairs a file may hold: torch and Hugging Face write a handful. */
const MAX_METADATA_ENTRIES = 65_536;

/** A safetensors file's contents. */
export interface Safetensors {
  tensors: Map<string, Tensor>;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
  /** Each tensor's dtype as stored ('F16', 'I64'…), before conversion to float32/int32. */
  storedDtypes: Map<string, string>;
}

interface Entry {
  name: string;
  type: ElementType;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, flat rendering of a header value for messages (never recursive: the value came from the file). */
function brief(value: unknown): string {
  const one = (v: unknown): string =>
    Array.isArray(v)
      ? '[…]'
      : typeof v === 'string'
        ? `"${v.slice(0, 20)}"`
        : typeof v === 'object' && v !== null
          ? '{…}'
          : String(v);
  if (!Array.isArray(value)) return one(value);
  return `[${value.slice(0, 8).map(one).join(', ')}${value.length > 8 ? ', …' : ''}]`;
}

function parseEntry(name: string, value: unknown, dataLength: number): Entry {
  const fail = (field: string, message: string): never => {
    throw new FormatError(`safetensors: tensor '${name}': ${field} ${message}`);
  };
  if (!isRecord(value)) fail('entry', 'is not an object');
  const info = value as Record<string, unknown>;
  const dtype = info.dtype;
  if (typeof dtype !== 'string') return fail('dtype', 'is missing or not a string');
  const type = DTYPES.get(dtype);
  if (type === undefined) {
    return fail('dtype', `'${dtype}' is not supported (supported: ${[...DTYPES.keys()].join(', ')})`);
  }
  const shape = info.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    return fail('shape', `${brief(shape)} is not a list of non-negative integers`);
  }
  const offsets = info.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    return fail('data_offsets', `${brief(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end) fail('data_offsets', `[${begin}, ${end}] ends before it begins`);
  if (end > dataLength) fail('data_offsets', `[${begin}, ${end}] runs past the data (${dataLength} bytes)`);
  const needed = elementCount(shape as number[], `safetensors: tensor '${name}': shape`) * elementSize[type];
  if (end - begin !== needed) {
    fail(
      'data_offsets',
      `[${begin}, ${end}] span ${end - begin} bytes, but shape [${shape.join(', ')}] of ${dtype} needs ${needed}`,
    );
  }
  return { name, type, dtype, shape: shape as number[], begin, end };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Walks an object's members in JSON text without building them: each key, and its value's text found by counting
 * brackets outside strings. Only the values a reader keeps go to JSON.parse, one at a time, so a header costs memory
 * in proportion to the tensors it describes rather than to the values it could pack into its bytes.
 */
class ObjectMembers {
  private at = 0;

  constructor(
    private readonly text: string,
    private readonly what: string,
  ) {}

  private fail(message: string): never {
    throw new FormatError(`safetensors: ${this.what} is not valid JSON: ${message} at character ${this.at}`);
  }

  private space(): void {
    while (this.at < this.text.length && /\s/.test(this.text[this.at])) this.at++;
  }

  /** Just past the string whose opening quote is at `start`. */
  private stringEnd(start: number): number {
    for (let i = start + 1; i < this.text.length; i++) {
      const c = this.text.charCodeAt(i);
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) return i + 1;
    }
    this.at = start;
    return this.fail('a string is not terminated');
  }

  /** The text of the value at `at` (from its first character), up to the comma or bracket that ends it. */
  private valueText(): string {
    this.space();
    const start = this.at;
    let depth = 0;
    while (this.at < this.text.length) {
      const c = this.text.charCodeAt(this.at);
      if (depth === 0 && (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET)) break;
      if (c === QUOTE) {
        this.at = this.stringEnd(this.at);
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
      this.at++;
    }
    if (this.at >= this.text.length) this.fail('the text ends inside a value');
    if (this.at === start) this.fail('a value is missing');
    return this.text.slice(start, this.at);
  }

  *[Symbol.iterator](): Generator<[string, string]> {
    this.space();
    if (this.text.charCodeAt(this.at) !== OPEN_BRACE) this.fail("expected '{'");
    this.at++;
    this.space();
    if (this.text.charCodeAt(this.at) === CLOSE_BRACE) {
      this.at++;
    } else {
      for (;;) {
        this.space();
        if (this.text.charCodeAt(this.at) !== QUOTE) this.fail('expected a key');
        const end = this.stringEnd(this.at);
        const key = parseJson(this.text.slice(this.at, end), this.what) as string;
        this.at = end;
        this.space();
        if (this.text.charCodeAt(this.at) !== COLON)
          this.fail(`expected ':' after key '${key.slice(0, 40)}'`);
        this.at++;
        yield [key, this.valueText()];
        this.space();
        const c = this.text.charCodeAt(this.at++);
        if (c === CLOSE_BRACE) break;
        if (c !== COMMA) this.fail("expected ',' or '}'");
      }
    }
    this.space();
    if (this.at !== this.text.length) this.fail('text follows the object');
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError(`safetensors: ${what} is not valid JSON: ${(error as Error).message}`);
  }
}

function parseHeader(bytes: Uint8Array): {
  entries: Entry[];
  metadata: Record<string, string>;
  dataStart: number;
} {
  if (bytes.length < 8)
    throw new FormatError(
      `safetensors: file is ${bytes.length} bytes, shorter than its 8-byte header length`,
    );
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw new FormatError(
      `safetensors: header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    throw new FormatError(`safetensors: header length ${headerLength} exceeds 100 MB`);
  const dataStart = 8 + Number(headerLength);
  if (bytes[8] !== 0x7b)
    throw new FormatError("safetensors: header does not start with '{' (not a safetensors file?)");
  let header: string;
  try {
    header = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch (error) {
    throw new FormatError(`safetensors: header is not valid JSON: ${(error as Error).message}`);
  }
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, Entry>();
  for (const [name, text] of new ObjectMembers(header, 'header')) {
    if (name === '__metadata__') {
      if (text.charCodeAt(0) !== OPEN_BRACE)
        throw new FormatError('safetensors: __metadata__ is not an object');
      let count = 0;
      for (const [key, value] of new ObjectMembers(text, '__metadata__')) {
        if (++count > MAX_METADATA_ENTRIES)
          throw new FormatError(`safetensors: __metadata__ has more than ${MAX_METADATA_ENTRIES} entries`);
        if (value.charCodeAt(0) !== QUOTE)
          throw new FormatError(`safetensors: __metadata__ '${key}' is not a string`);
        Object.defineProperty(metadata, key, {
          value: parseJson(value, `__metadata__ '${key}'`),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    } else {
      if (!entries.has(name) && entries.size >= MAX_SAFETENSORS_TENSORS) {
        throw new FormatError(
          `safetensors: the header lists more than ${MAX_SAFETENSORS_TENSORS} tensors (tensor '${name.slice(0, 40)}')`,
        );
      }
      if (text.length > MAX_ENTRY_CHARS) {
        throw new FormatError(
          `safetensors: tensor '${name}': entry is ${text.length} characters of JSON, more than a dtype, shape and offsets need`,
        );
      }
      // As JSON.parse would: a repeated name keeps its place, and its last entry.
      entries.set(name, parseEntry(name, parseJson(text, `tensor '${name}'`), dataLength));
    }
  }
  // Every data byte belongs to exactly one tensor: sorted by offset, each begins where the previous ended.
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const entry of sorted) {
    if (entry.begin < covered) {
      throw new FormatError(
        `safetensors: tensor '${entry.name}': data_offsets [${entry.begin}, ${entry.end}] overlap tensor '${previous?.name}' [${previous?.begin}, ${previous?.end}]`,
      );
    }
    if (entry.begin > covered) {
      throw new FormatError(
        `safetensors: tensor '${entry.name}': data_offsets [${entry.begin}, ${entry.end}] leave bytes ${covered}…${entry.begin} of the data unused`,
      );
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    throw new FormatError(
      `safetensors: the tensors' data_offsets cover ${covered} bytes, but the data is ${dataLength} bytes`,
    );
  }
  return { entries: [...entries.values()], metadata, dataStart };
}

/**
 * Tensors and metadata from safetensors bytes. F32 as is; F16, BF16 and F64 to float32; I32 as is; I64 to int32,
 * an error naming any value int32 cannot hold; I16/I8/U8/BOOL to int32. Every offset is checked first.
 */
export function decodeSafetensors(bytes: Uint8Array): Safetensors {
  const { entries, metadata, dataStart } = parseHeader(bytes);
  const tensors = new Map<string, Tensor>();
  const storedDtypes = new Map<string, string>();
  for (const e of entries) {
    const count = (e.end - e.begin) / elementSize[e.type];
    const values = decodeElements(
      bytes,
      dataStart + e.begin,
      count,
      e.type,
      `safetensors: tensor '${e.name}'`,
    );
    tensors.set(
      e.name,
      tensor(values, e.shape, { dtype: values instanceof Int32Array ? 'int32' : 'float32' }),
    );
    storedDtypes.set(e.name, e.dtype);
  }
  return { tensors, metadata, storedDtypes };
}

/** Tensors by name, in the order they are written. */
export type TensorMap = Map<string, Tensor> | Record<string, Tensor>;

/** The JSON header, padded with spaces to a multiple of 8 bytes as the reference writer does, and its length prefix. */
export function headerFor(tensors: [string, Tensor][], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  const metadataEntries = Object.entries(metadata);
  for (const [key, value] of metadataEntries) {
    if (typeof value !== 'string')
      throw new ValueError(`saveSafetensors: metadata '${key}' must be a string`);
  }
  if (metadataEntries.length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new ValueError("saveSafetensors: '__metadata__' cannot name a tensor");
    const bytes = t.size * 4;
    Object.defineProperty(header, name, {
      value: {
        dtype: t.dtype === 'int32' ? 'I32' : 'F32',
        shape: [...t.shape],
        data_offsets: [offset, offset + bytes],
      },
      enumerable: true,
    });
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** safetensors bytes holding the tensors (float32 as F32, int32 as I32) in the order given. */
export function encodeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const parts = [headerFor(list, metadata), ...list.map(([, t]) => encodeElements(t.data()))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
