import { crc32, inflateRawSync } from 'node:zlib';
import { FormatError } from '../../errors.js';

/**
 * A zip reader for the archives torch.save writes (PKWARE's APPNOTE.TXT): the central directory, zip64 records,
 * stored entries (what torch writes) and deflated ones. Every offset and length is checked against the buffer
 * before use, every entry's declared size against what its compressed bytes could hold before it is inflated, and
 * every entry's CRC-32 when it is read.
 */

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_END_LOCATOR = 0x07064b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;
/**
 * Deflate's largest expansion: a 258-byte match coded in 2 bits (zlib's technical notes give 1032:1). An entry
 * declaring more than this many bytes per compressed byte is lying, and is refused before it is inflated.
 */
const MAX_DEFLATE_RATIO = 1032;

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Little-endian reads that fail with a FormatError naming the field instead of reading past the buffer. */
class Reader {
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private check(offset: number, width: number, what: string): void {
    if (offset < 0 || offset + width > this.bytes.length) {
      throw new FormatError(
        `zip: ${what} at offset ${offset} lies outside the file (${this.bytes.length} bytes)`,
      );
    }
  }

  u16(offset: number, what: string): number {
    this.check(offset, 2, what);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number, what: string): number {
    this.check(offset, 4, what);
    return this.view.getUint32(offset, true);
  }

  u64(offset: number, what: string): number {
    this.check(offset, 8, what);
    const value = this.view.getBigUint64(offset, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`zip: ${what} ${value} is too large`);
    return Number(value);
  }

  slice(offset: number, length: number, what: string): Uint8Array {
    this.check(offset, length, what);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** Reads zip64's extended sizes and offset, present only for the fields whose 32-bit value is 0xFFFFFFFF. */
function applyZip64Extra(reader: Reader, extraStart: number, extraLength: number, entry: ZipEntry): void {
  const needed = [entry.size, entry.compressedSize, entry.localHeaderOffset].some((v) => v === 0xffffffff);
  if (!needed) return;
  let at = extraStart;
  const end = extraStart + extraLength;
  while (at + 4 <= end) {
    const id = reader.u16(at, 'extra field id');
    const length = reader.u16(at + 2, 'extra field length');
    if (at + 4 + length > end) break;
    if (id === 0x0001) {
      let field = at + 4;
      const next = (what: string): number => {
        if (field + 8 > at + 4 + length)
          throw new FormatError(`zip: entry '${entry.name}': zip64 extra field lacks ${what}`);
        const value = reader.u64(field, `entry '${entry.name}' zip64 ${what}`);
        field += 8;
        return value;
      };
      if (entry.size === 0xffffffff) entry.size = next('size');
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next('compressed size');
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = next('local header offset');
      return;
    }
    at += 4 + length;
  }
  throw new FormatError(`zip: entry '${entry.name}' needs a zip64 extra field and has none`);
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly reader: Reader;

  constructor(bytes: Uint8Array) {
    this.reader = new Reader(bytes);
    const reader = this.reader;
    // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
    let end = -1;
    for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
      if (
        reader.u32(at, 'end record') === END_OF_CENTRAL_DIRECTORY &&
        at + 22 + reader.u16(at + 20, 'comment length') === bytes.length
      ) {
        end = at;
        break;
      }
    }
    if (end < 0)
      throw new FormatError('zip: no end-of-central-directory record (truncated or not a zip file)');
    if (reader.u16(end + 4, 'disk number') !== 0 || reader.u16(end + 6, 'central directory disk') !== 0) {
      throw new FormatError('zip: multi-disk archives are not supported');
    }
    let count = reader.u16(end + 10, 'entry count');
    let directorySize = reader.u32(end + 12, 'central directory size');
    let directoryOffset = reader.u32(end + 16, 'central directory offset');
    if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
      const locator = end - 20;
      if (locator < 0 || reader.u32(locator, 'zip64 locator') !== ZIP64_END_LOCATOR) {
        throw new FormatError('zip: the end record asks for zip64 but there is no zip64 locator');
      }
      const record = reader.u64(locator + 8, 'zip64 end record offset');
      if (reader.u32(record, 'zip64 end record') !== ZIP64_END_OF_CENTRAL_DIRECTORY) {
        throw new FormatError(`zip: no zip64 end record at offset ${record}`);
      }
      count = reader.u64(record + 32, 'zip64 entry count');
      directorySize = reader.u64(record + 40, 'zip64 central directory size');
      directoryOffset = reader.u64(record + 48, 'zip64 central directory offset');
    }
    const directoryEnd = directoryOffset + directorySize;
    if (directoryEnd > bytes.length) {
      throw new FormatError(
        `zip: central directory [${directoryOffset}, ${directoryEnd}) runs past the end of the file (${bytes.length} bytes)`,
      );
    }
    // Each header is at least 46 bytes, so a lying count cannot make this loop outrun the directory.
    if (count * 46 > directorySize) {
      throw new FormatError(`zip: ${count} entries cannot fit in a ${directorySize}-byte central directory`);
    }
    let at = directoryOffset;
    const decoder = new TextDecoder('utf-8');
    for (let i = 0; i < count; i++) {
      if (at + 46 > directoryEnd || reader.u32(at, 'central directory header') !== CENTRAL_FILE_HEADER) {
        throw new FormatError(`zip: central directory entry ${i} at offset ${at} is malformed`);
      }
      const nameLength = reader.u16(at + 28, 'name length');
      const extraLength = reader.u16(at + 30, 'extra length');
      const commentLength = reader.u16(at + 32, 'comment length');
      const next = at + 46 + nameLength + extraLength + commentLength;
      if (next > directoryEnd)
        throw new FormatError(`zip: central directory entry ${i} runs past the directory`);
      const name = decoder.decode(reader.slice(at + 46, nameLength, 'entry name'));
      const flags = reader.u16(at + 8, 'flags');
      if (flags & 1) throw new FormatError(`zip: entry '${name}' is encrypted`);
      const entry: ZipEntry = {
        name,
        method: reader.u16(at + 10, 'compression method'),
        crc32: reader.u32(at + 16, 'crc-32'),
        compressedSize: reader.u32(at + 20, 'compressed size'),
        size: reader.u32(at + 24, 'size'),
        localHeaderOffset: reader.u32(at + 42, 'local header offset'),
      };
      applyZip64Extra(reader, at + 46 + nameLength, extraLength, entry);
      if (this.entries.has(name)) throw new FormatError(`zip: entry '${name}' appears twice`);
      this.entries.set(name, entry);
      at = next;
    }
  }

  /** What reading an entry allocates: its size when it is inflated, nothing when it is stored (a view is read). */
  inflatedSize(name: string): number {
    const entry = this.entries.get(name);
    return entry === undefined || entry.method === STORED ? 0 : entry.size;
  }

  /** An entry's uncompressed bytes (a view into the archive for stored entries). */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new FormatError(`zip: no entry '${name}'`);
    const reader = this.reader;
    const local = entry.localHeaderOffset;
    if (reader.u32(local, `entry '${name}' local header`) !== LOCAL_FILE_HEADER) {
      throw new FormatError(`zip: entry '${name}': no local header at offset ${local}`);
    }
    const dataStart =
      local + 30 + reader.u16(local + 26, 'name length') + reader.u16(local + 28, 'extra length');
    const compressed = reader.slice(dataStart, entry.compressedSize, `entry '${name}' data`);
    let data: Uint8Array;
    if (entry.method === STORED) {
      if (entry.compressedSize !== entry.size) {
        throw new FormatError(
          `zip: stored entry '${name}' has size ${entry.size} but ${entry.compressedSize} bytes`,
        );
      }
      data = compressed;
    } else if (entry.method === DEFLATED) {
      if (entry.size > MAX_DEFLATE_RATIO * entry.compressedSize) {
        throw new FormatError(
          `zip: entry '${name}' declares ${entry.size} bytes from ${entry.compressedSize} compressed, more than ` +
            `deflate's ${MAX_DEFLATE_RATIO}:1 can produce`,
        );
      }
      try {
        // The declared size caps the output, and one chunk a byte larger than it holds the whole entry: no
        // second buffer, no copy, and a byte past the declared size is caught as it is inflated.
        data = inflateRawSync(compressed, {
          maxOutputLength: Math.max(entry.size, 1),
          chunkSize: Math.max(entry.size + 1, 64),
        });
      } catch (error) {
        throw new FormatError(`zip: entry '${name}' does not inflate: ${(error as Error).message}`);
      }
      if (data.length !== entry.size) {
        throw new FormatError(
          `zip: entry '${name}' inflates to ${data.length} bytes, not the ${entry.size} declared`,
        );
      }
    } else {
      throw new FormatError(
        `zip: entry '${name}' uses compression method ${entry.method} (only stored and deflate are supported)`,
      );
    }
    const actual = crc32(data) >>> 0;
    if (actual !== entry.crc32) {
      throw new FormatError(
        `zip: entry '${name}' is corrupt: CRC-32 ${actual.toString(16)} does not match ${entry.crc32.toString(16)}`,
      );
    }
    return data;
  }
}
