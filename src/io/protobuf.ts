/**
 * The protocol-buffer wire format (https://protobuf.dev/programming-guides/encoding/), only what ONNX's and Caffe's
 * messages use: varints, 32- and 64-bit fixed fields, length-delimited fields and packed repeated scalars. Every length and
 * offset is checked against the bytes that remain, so a malformed file is a FormatError naming the message and
 * field, and every loop advances by at least one byte (no hang on any input).
 */
import { FormatError } from '../errors.js';

export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

const wireTypeNames: Record<number, string> = {
  0: 'varint',
  1: 'fixed64',
  2: 'length-delimited',
  3: 'start-group',
  4: 'end-group',
  5: 'fixed32',
};

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Reads the fields of one message, in order, from `bytes[start, end)`. `format` ('ONNX', 'Caffe') and `path` name
 * the message in errors.
 */
export class ProtoReader {
  private pos: number;
  private readonly view: DataView;
  /** Field number and wire type of the field last returned by next(). */
  field = 0;
  wireType = 0;

  constructor(
    private readonly bytes: Uint8Array,
    readonly format: string,
    readonly path: string,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(what: string): never {
    throw new FormatError(`${this.format} ${this.path}: ${what}`);
  }

  /** Advances to the next field; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.end) return false;
    const key = this.varint('field key');
    this.field = Math.floor(key / 8);
    this.wireType = key % 8;
    if (this.field < 1 || this.field > 0x1fffffff) this.fail(`bad field number ${this.field}`);
    if (!(this.wireType in wireTypeNames) || this.wireType === 3 || this.wireType === 4) {
      this.fail(`field ${this.field} has unsupported wire type ${this.wireType}`);
    }
    return true;
  }

  /** A field's name for errors: `Message.name (field n)`. */
  private describe(name: string): string {
    return `${name} (field ${this.field})`;
  }

  private expect(wireType: WireType, name: string): void {
    if (this.wireType !== wireType) {
      this.fail(
        `${this.describe(name)} has wire type ${wireTypeNames[this.wireType]}, expected ${wireTypeNames[wireType]}`,
      );
    }
  }

  /**
   * An unsigned varint of up to 64 bits, as a number (exact up to 2^53, the nearest double beyond). int64 fields
   * are two's complement: use int64() for those.
   */
  private varintParts(what: string): { low: number; high: number } {
    // low holds bits 0–27, high bits 28–63, both exact in doubles.
    let low = 0;
    let high = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail(`${what}: varint runs past the end of the message`);
      const byte = this.bytes[this.pos++];
      const bits = byte & 0x7f;
      if (i < 4) low += bits * 2 ** (7 * i);
      else if (i === 4) {
        low += (bits & 0x0f) * 2 ** 28;
        high += bits >> 4;
      } else high += bits * 2 ** (7 * i - 32);
      if ((byte & 0x80) === 0) return { low, high: high % 2 ** 32 };
    }
    this.fail(`${what}: varint longer than 10 bytes`);
  }

  varint(what = this.describe('varint')): number {
    const { low, high } = this.varintParts(what);
    return high * 2 ** 32 + low;
  }

  /** A varint read as two's-complement int64 (negative values take 10 bytes), as a number. */
  private signedVarint(what: string): number {
    const { low, high } = this.varintParts(what);
    // high is bits 32–63 as unsigned; values ≥ 2^31 there are negative.
    const signedHigh = high >= 2 ** 31 ? high - 2 ** 32 : high;
    return signedHigh * 2 ** 32 + low;
  }

  // ---- typed field readers: each checks the wire type against the field's declared type ----

  int64(name: string): number {
    this.expect(WireType.Varint, name);
    return this.signedVarint(this.describe(name));
  }

  /** int32 and enum fields: int64 on the wire, narrowed. */
  int32(name: string): number {
    const value = this.int64(name);
    if (value < -(2 ** 31) || value >= 2 ** 31) this.fail(`${this.describe(name)}: ${value} is not an int32`);
    return value;
  }

  float(name: string): number {
    this.expect(WireType.Fixed32, name);
    return this.fixed32();
  }

  private fixed32(): number {
    if (this.end - this.pos < 4) this.fail('fixed32 value runs past the end of the message');
    const value = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return value;
  }

  private fixed64(): number {
    if (this.end - this.pos < 8) this.fail('fixed64 value runs past the end of the message');
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** The [start, end) byte range of a length-delimited field, checked to lie inside this message. */
  private delimited(name: string): [number, number] {
    this.expect(WireType.LengthDelimited, name);
    const length = this.varint(`${this.describe(name)} length`);
    if (length > this.end - this.pos) {
      this.fail(
        `${this.describe(name)}: length ${length} runs past the end (${this.end - this.pos} bytes left)`,
      );
    }
    const start = this.pos;
    this.pos += length;
    return [start, this.pos];
  }

  /** A bytes field: a view into the input, not a copy. */
  bytesField(name: string): Uint8Array {
    const [start, end] = this.delimited(name);
    return this.bytes.subarray(start, end);
  }

  string(name: string): string {
    return utf8.decode(this.bytesField(name));
  }

  /** A reader over an embedded message; `path` names it in errors ('GraphProto.node[3]'). */
  message(name: string, path: string): ProtoReader {
    const [start, end] = this.delimited(name);
    return new ProtoReader(this.bytes, this.format, path, start, end);
  }

  /** Appends a repeated int64 field's values: packed (length-delimited) or one varint. */
  repeatedInt64(name: string, out: number[]): void {
    if (this.wireType === WireType.Varint) {
      out.push(this.int64(name));
      return;
    }
    const [start, end] = this.delimited(name);
    const packed = new ProtoReader(this.bytes, this.format, this.path, start, end);
    while (packed.pos < end) out.push(packed.signedVarint(this.describe(name)));
  }

  /** Appends a repeated float field's values: packed or one fixed32. */
  repeatedFloat(name: string, out: number[]): void {
    if (this.wireType === WireType.Fixed32) {
      out.push(this.fixed32());
      return;
    }
    const [start, end] = this.delimited(name);
    if ((end - start) % 4 !== 0)
      this.fail(`${this.describe(name)}: packed length ${end - start} is not a multiple of 4`);
    for (let at = start; at < end; at += 4) out.push(this.view.getFloat32(at, true));
  }

  /** Appends a repeated double field's values: packed or one fixed64. */
  repeatedDouble(name: string, out: number[]): void {
    if (this.wireType === WireType.Fixed64) {
      out.push(this.fixed64());
      return;
    }
    const [start, end] = this.delimited(name);
    if ((end - start) % 8 !== 0)
      this.fail(`${this.describe(name)}: packed length ${end - start} is not a multiple of 8`);
    for (let at = start; at < end; at += 8) out.push(this.view.getFloat64(at, true));
  }

  /** Appends a repeated uint64 field's values (packed or one varint), unsigned. */
  repeatedUint64(name: string, out: number[]): void {
    if (this.wireType === WireType.Varint) {
      out.push(this.varint(this.describe(name)));
      return;
    }
    const [start, end] = this.delimited(name);
    const packed = new ProtoReader(this.bytes, this.format, this.path, start, end);
    while (packed.pos < end) out.push(packed.varint(this.describe(name)));
  }

  /** Skips a field this reader does not know, as protobuf requires. */
  skip(): void {
    switch (this.wireType) {
      case WireType.Varint:
        this.varint(`unknown field ${this.field}`);
        return;
      case WireType.Fixed64:
        if (this.end - this.pos < 8) this.fail(`unknown field ${this.field} runs past the end`);
        this.pos += 8;
        return;
      case WireType.Fixed32:
        if (this.end - this.pos < 4) this.fail(`unknown field ${this.field} runs past the end`);
        this.pos += 4;
        return;
      case WireType.LengthDelimited:
        this.delimited(`unknown field ${this.field}`);
        return;
      default:
        this.fail(`field ${this.field} has unsupported wire type ${this.wireType}`);
    }
  }
}

// ---- writing ----

const utf8Encoder = new TextEncoder();

/**
 * Builds one message as a list of chunks; embedded messages are written as their length and their own chunks, so
 * large raw tensor data is never copied until the final concatenation (or not at all when streamed).
 */
export class ProtoWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  private scratch: number[] = [];

  private flushScratch(): void {
    if (this.scratch.length === 0) return;
    this.chunks.push(Uint8Array.from(this.scratch));
    this.length += this.scratch.length;
    this.scratch = [];
  }

  private push(chunk: Uint8Array): void {
    this.flushScratch();
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Unsigned varint of a non-negative safe integer, or two's complement for a negative one (10 bytes). */
  private rawVarint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new FormatError(`protobuf writer: ${value} is not an integer`);
    if (value < 0) {
      let v = BigInt.asUintN(64, BigInt(value));
      while (v >= 0x80n) {
        this.scratch.push(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      this.scratch.push(Number(v));
      return;
    }
    let v = value;
    while (v >= 0x80) {
      this.scratch.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.scratch.push(v);
  }

  private tag(field: number, wireType: WireType): void {
    this.rawVarint(field * 8 + wireType);
  }

  int64(field: number, value: number): this {
    this.tag(field, WireType.Varint);
    this.rawVarint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WireType.Fixed32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.scratch.push(...bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LengthDelimited);
    this.rawVarint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  message(field: number, build: (writer: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    inner.flushScratch();
    this.tag(field, WireType.LengthDelimited);
    this.rawVarint(inner.length);
    this.flushScratch();
    this.chunks.push(...inner.chunks);
    this.length += inner.length;
    return this;
  }

  packedInt64(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    inner.flushScratch();
    this.tag(field, WireType.LengthDelimited);
    this.rawVarint(inner.length);
    this.flushScratch();
    this.chunks.push(...inner.chunks);
    this.length += inner.length;
    return this;
  }

  packedFloat(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, bytes);
  }

  /** The message's bytes, concatenated. */
  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  /** The chunks, for streaming to a file without one large copy. */
  parts(): Uint8Array[] {
    this.flushScratch();
    return this.chunks;
  }
}
