/**
 * Element decoding and encoding: little-endian bytes to and from float32 / int32. Node-free, so the formats that
 * decode bytes (safetensors) work in a browser too.
 */
import { FormatError } from '../errors.js';

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Storage element types the readers know, with their size in bytes. */
export type ElementType =
  'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export const elementSize: Record<ElementType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** An aligned copy of count elements of width `size` at `offset`, byte-swapped to the host's order if needed. */
function alignedCopy(bytes: Uint8Array, offset: number, count: number, size: number): ArrayBuffer {
  // A fresh copy, not bytes.slice: on a Node Buffer slice is a view into a shared pool.
  const copy = new Uint8Array(count * size);
  copy.set(bytes.subarray(offset, offset + count * size));
  if (!hostIsLittleEndian) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return copy.buffer;
}

let float16Values: Float32Array | null = null;

/** Every float16 bit pattern's value, built on first use. */
function float16Table(): Float32Array {
  if (float16Values !== null) return float16Values;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) table[h] = sign * fraction * 2 ** -24;
    else if (exponent === 31) table[h] = fraction === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  float16Values = table;
  return table;
}

/**
 * Decodes `count` little-endian elements at `offset` (the caller has checked the range). int64 values that int32
 * cannot hold are an error naming the value and its index, described by `what`.
 */
export function decodeElements(
  bytes: Uint8Array,
  offset: number,
  count: number,
  type: ElementType,
  what: string,
): Float32Array | Int32Array {
  switch (type) {
    case 'float32':
      return new Float32Array(alignedCopy(bytes, offset, count, 4));
    case 'float64':
      return Float32Array.from(new Float64Array(alignedCopy(bytes, offset, count, 8)));
    case 'float16':
    case 'bfloat16': {
      const halves = new Uint16Array(alignedCopy(bytes, offset, count, 2));
      const out = new Float32Array(count);
      if (type === 'float16') {
        const table = float16Table();
        for (let i = 0; i < count; i++) out[i] = table[halves[i]];
      } else {
        // bfloat16 is the top half of a float32.
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
      }
      return out;
    }
    case 'int64': {
      const words = new Int32Array(alignedCopy(bytes, offset, count * 2, 4));
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const low = words[2 * i];
        const high = words[2 * i + 1];
        // Fits int32 exactly when the high word is the sign extension of the low one.
        if (high !== low >> 31) {
          const value = (BigInt(high) << 32n) | BigInt(low >>> 0);
          throw new FormatError(`${what}: int64 value ${value} at index ${i} does not fit in int32`);
        }
        out[i] = low;
      }
      return out;
    }
    case 'int32':
      return new Int32Array(alignedCopy(bytes, offset, count, 4));
    case 'int16':
      return Int32Array.from(new Int16Array(alignedCopy(bytes, offset, count, 2)));
    case 'int8':
      return Int32Array.from(new Int8Array(alignedCopy(bytes, offset, count, 1)));
    case 'uint8':
    case 'bool':
      return Int32Array.from(bytes.subarray(offset, offset + count));
  }
}

/** Little-endian bytes of a tensor's values (float32 or int32). */
export function encodeElements(values: Float32Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  if (!hostIsLittleEndian) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  return bytes;
}

/** The number of elements of a shape, or an error when a dimension is not a non-negative integer or the count is absurd. */
export function elementCount(shape: readonly number[], what: string): number {
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw new FormatError(`${what}: dimension ${String(d)} is not a non-negative integer`);
    count *= d;
    if (count > Number.MAX_SAFE_INTEGER)
      throw new FormatError(`${what}: shape [${shape.join(', ')}] has too many elements`);
  }
  return count;
}
