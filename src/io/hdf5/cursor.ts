import { FormatError } from '../../errors.js';

/** An HDF5 address that points nowhere (all bits set): storage never allocated, a heap not made. */
export const UNDEFINED_ADDRESS = -1;

/** An error about the file, prefixed 'HDF5: ' so that a message always says which format was being read. */
export function hdf5Error(message: string): FormatError {
  return new FormatError(`HDF5: ${message}`);
}

/**
 * Little-endian reads at a moving position that fail with a FormatError naming the field instead of reading past
 * the file. Addresses and lengths are `offsetSize`/`lengthSize` bytes wide (the superblock says which); a value past
 * 2^53 is refused, and an address of all ones reads as UNDEFINED_ADDRESS.
 */
export class Cursor {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    public position: number,
    readonly offsetSize = 8,
    readonly lengthSize = 8,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** A cursor on the same file at another position. */
  at(position: number): Cursor {
    return new Cursor(this.bytes, position, this.offsetSize, this.lengthSize);
  }

  private take(width: number, what: string): number {
    const start = this.position;
    if (!Number.isSafeInteger(start) || start < 0 || start + width > this.bytes.length) {
      throw hdf5Error(`${what} at offset ${start} lies outside the file (${this.bytes.length} bytes)`);
    }
    this.position += width;
    return start;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }

  u16(what: string): number {
    return this.view.getUint16(this.take(2, what), true);
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }

  /** An unsigned integer of 1 to 8 bytes; all ones is UNDEFINED_ADDRESS. */
  uint(width: number, what: string): number {
    const start = this.take(width, what);
    let value = 0n;
    let allOnes = true;
    for (let i = width - 1; i >= 0; i--) {
      const byte = this.bytes[start + i];
      if (byte !== 0xff) allOnes = false;
      value = (value << 8n) | BigInt(byte);
    }
    if (allOnes) return UNDEFINED_ADDRESS;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw hdf5Error(`${what} ${value} is too large`);
    return Number(value);
  }

  address(what: string): number {
    return this.uint(this.offsetSize, what);
  }

  length(what: string): number {
    return this.uint(this.lengthSize, what);
  }

  slice(length: number, what: string): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0)
      throw hdf5Error(`${what}: length ${length} is not a byte count`);
    const start = this.take(length, what);
    return this.bytes.subarray(start, start + length);
  }

  skip(length: number, what: string): void {
    this.slice(length, what);
  }

  /** Checks a 4-byte signature ('HEAP', 'TREE', 'SNOD', 'OHDR', …). */
  signature(expected: string, what: string): void {
    const found = new TextDecoder('latin1').decode(this.slice(4, `${what} signature`));
    if (found !== expected)
      throw hdf5Error(`${what} at offset ${this.position - 4} has signature '${found}', not '${expected}'`);
  }

  /** A NUL-terminated string, at most `limit` bytes long. */
  cString(what: string, limit = 65536): string {
    const start = this.position;
    const end = Math.min(this.bytes.length, start + limit);
    for (let i = start; i < end; i++) {
      if (this.bytes[i] === 0) {
        this.position = i + 1;
        return new TextDecoder().decode(this.bytes.subarray(start, i));
      }
    }
    throw hdf5Error(`${what} at offset ${start} is not NUL-terminated`);
  }

  /** Moves to the next multiple of `alignment` counted from `origin` (version 1 headers pad to 8 bytes). */
  align(alignment: number, origin = 0): void {
    const misalignment = (this.position - origin) % alignment;
    if (misalignment !== 0) this.position += alignment - misalignment;
  }
}
