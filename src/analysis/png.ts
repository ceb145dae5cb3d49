/**
 * A PNG encoder of the project's own, in plain TypeScript for every runtime (no zlib, no native module): 8-bit grey,
 * grey + alpha, RGB or RGBA, each row filtered with the PNG filter that leaves the smallest absolute sum (the
 * specification's suggested heuristic), compressed as one deflate block of fixed Huffman codes over greedy LZ77
 * matches (RFC 1951 §3.2.6), in a zlib stream (RFC 1950) with its Adler-32, in chunks with their CRC-32.
 */
import { ValueError } from '../errors.js';

/** Pixels row by row from the top, `channels` bytes each: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
export interface Picture {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO 3309, as PNG and zip use it). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Adler-32 (RFC 1950), the checksum that ends a zlib stream. */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  // 5552 bytes is the most that can be summed before b may pass 2³² (RFC 1950's NMAX).
  for (let start = 0; start < bytes.length; start += 5552) {
    const end = Math.min(start + 5552, bytes.length);
    for (let i = start; i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Writes bits least significant first, as deflate packs them. */
class BitWriter {
  private bytes = new Uint8Array(1024);
  private length = 0;
  private buffer = 0;
  private count = 0;

  write(value: number, bits: number): void {
    for (let i = 0; i < bits; i++) {
      this.buffer |= ((value >>> i) & 1) << this.count;
      if (++this.count === 8) this.flush();
    }
  }

  /** A Huffman code goes in most significant bit first. */
  writeCode(code: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) this.write((code >>> i) & 1, 1);
  }

  finish(): Uint8Array {
    if (this.count > 0) this.flush();
    return this.bytes.subarray(0, this.length);
  }

  private flush(): void {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = this.buffer;
    this.buffer = 0;
    this.count = 0;
  }
}

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
  227, 258,
];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
  6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];
const WINDOW = 32768;
const MAX_MATCH = 258;
/** Earlier positions tried per match: enough for pictures' repeats, cheap on noise. */
const CHAIN = 32;

/** The fixed literal/length code of RFC 1951 §3.2.6. */
function writeLiteralOrLength(out: BitWriter, symbol: number): void {
  if (symbol < 144) out.writeCode(0x30 + symbol, 8);
  else if (symbol < 256) out.writeCode(0x190 + symbol - 144, 9);
  else if (symbol < 280) out.writeCode(symbol - 256, 7);
  else out.writeCode(0xc0 + symbol - 280, 8);
}

function writeMatch(out: BitWriter, length: number, distance: number): void {
  let l = LENGTH_BASE.length - 1;
  while (LENGTH_BASE[l] > length) l--;
  writeLiteralOrLength(out, 257 + l);
  out.write(length - LENGTH_BASE[l], LENGTH_EXTRA[l]);
  let d = DISTANCE_BASE.length - 1;
  while (DISTANCE_BASE[d] > distance) d--;
  out.writeCode(d, 5);
  out.write(distance - DISTANCE_BASE[d], DISTANCE_EXTRA[d]);
}

/** Raw deflate (RFC 1951): one final block of fixed Huffman codes over greedy LZ77 matches. */
export function deflate(data: Uint8Array): Uint8Array {
  const out = new BitWriter();
  out.write(1, 1); // final block
  out.write(1, 2); // fixed Huffman codes
  const head = new Int32Array(1 << 16).fill(-1);
  const previous = new Int32Array(data.length);
  const hash = (i: number): number => ((data[i] << 8) ^ (data[i + 1] << 4) ^ data[i + 2]) & 0xffff;
  const insert = (i: number): void => {
    if (i + 2 >= data.length) return;
    const h = hash(i);
    previous[i] = head[h];
    head[h] = i;
  };
  let i = 0;
  while (i < data.length) {
    let bestLength = 0;
    let bestDistance = 0;
    if (i + 2 < data.length) {
      const limit = Math.min(MAX_MATCH, data.length - i);
      let candidate = head[hash(i)];
      for (let tries = 0; candidate >= 0 && i - candidate <= WINDOW && tries < CHAIN; tries++) {
        let length = 0;
        while (length < limit && data[candidate + length] === data[i + length]) length++;
        if (length > bestLength) {
          bestLength = length;
          bestDistance = i - candidate;
          if (length === limit) break;
        }
        candidate = previous[candidate];
      }
    }
    if (bestLength >= 3) {
      writeMatch(out, bestLength, bestDistance);
      for (let k = 0; k < bestLength; k++) insert(i + k);
      i += bestLength;
    } else {
      writeLiteralOrLength(out, data[i]);
      insert(i);
      i++;
    }
  }
  writeLiteralOrLength(out, 256); // end of block
  return out.finish();
}

/** A zlib stream (RFC 1950): header, raw deflate, Adler-32 of the data. */
export function zlibCompress(data: Uint8Array): Uint8Array {
  const body = deflate(data);
  const out = new Uint8Array(body.length + 6);
  out[0] = 0x78; // deflate, 32 KB window
  out[1] = 0x01; // no dictionary, fastest level; 0x7801 is a multiple of 31 as the header check needs
  out.set(body, 2);
  new DataView(out.buffer).setUint32(out.length - 4, adler32(data));
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** PNG's five predictors of a byte from its left, upper and upper-left neighbours. */
function predict(filter: number, left: number, up: number, upLeft: number): number {
  switch (filter) {
    case 1:
      return left;
    case 2:
      return up;
    case 3:
      return (left + up) >> 1;
    case 4:
      return paeth(left, up, upLeft);
    default:
      return 0;
  }
}

/** Each row prefixed by the filter (None, Sub, Up, Average, Paeth) whose output has the smallest absolute sum. */
function filterRows(picture: Picture): Uint8Array {
  const { width, height, channels, data } = picture;
  const stride = width * channels;
  const out = new Uint8Array(height * (stride + 1));
  const candidate = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    let bestSum = Infinity;
    for (let filter = 0; filter < 5; filter++) {
      let sum = 0;
      for (let x = 0; x < stride; x++) {
        const left = x >= channels ? data[row + x - channels] : 0;
        const up = y > 0 ? data[row - stride + x] : 0;
        const upLeft = y > 0 && x >= channels ? data[row - stride + x - channels] : 0;
        const value = (data[row + x] - predict(filter, left, up, upLeft)) & 0xff;
        candidate[x] = value;
        sum += value < 128 ? value : 256 - value;
      }
      if (sum < bestSum) {
        bestSum = sum;
        out[y * (stride + 1)] = filter;
        out.set(candidate, y * (stride + 1) + 1);
      }
    }
  }
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 12);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out, 4, 8 + body.length));
  return out;
}

const COLOUR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;

/** The PNG file of a picture, 8 bits a sample. */
export function encodePng(picture: Picture): Uint8Array {
  const { width, height, channels, data } = picture;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new ValueError(`encodePng: size ${width}×${height} must be positive integers`);
  if (!(channels in COLOUR_TYPE))
    throw new ValueError(`encodePng: channels must be 1, 2, 3 or 4, got ${channels}`);
  if (data.length !== width * height * channels)
    throw new ValueError(
      `encodePng: ${data.length} bytes do not make ${width}×${height} pixels of ${channels} channels`,
    );
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8; // bits per sample
  header[9] = COLOUR_TYPE[channels];
  // Compression, filter and interlace methods: the only defined ones, 0.
  const signature = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
  const parts = [
    signature,
    chunk('IHDR', header),
    chunk('IDAT', zlibCompress(filterRows(picture))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
