import { existsSync, readFileSync } from 'node:fs';
import { constants, gunzipSync } from 'node:zlib';
import { FormatError, ValueError } from '../../errors.js';

/**
 * How far a gzipped dataset file may inflate, as a multiple of its size. Real image data compresses far less
 * (Fashion-MNIST 1.8:1, MNIST 4.7:1, CIFAR about 1.1:1); a file declaring more (compressed zeros) is refused before it
 * is inflated.
 */
const MAX_GZIP_EXPANSION = 64;
/** What any gzipped file may inflate to whatever its ratio, so a small, mostly blank file still reads. */
const GZIP_MIN_BYTES = 64 * 2 ** 20;
/**
 * The compressed bytes inflated to find a header: a gzip writer's own header, file name and first deflate block's
 * code tables take a few hundred; at deflate's 1032:1 this inflates to 4 MB at most.
 */
const GZIP_HEAD_BYTES = 4096;

/** How a file declares its own size: the leading bytes that say it, and the size they give. */
export interface DeclaredSize {
  headerBytes: number;
  /** The whole file's size from its first headerBytes bytes; a FormatError naming the field when they are wrong. */
  size(header: Uint8Array): number;
}

const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** A file's bytes; a ValueError naming it when it cannot be read. */
export function readBytes(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ValueError(`${file}: cannot read (${(error as Error).message})`);
  }
}

function corrupt(file: string, detail: string): FormatError {
  return new FormatError(`${file}: gzip data is corrupt or truncated (${detail})`);
}

/**
 * The first `length` bytes the gzip data inflates to, from a bounded prefix of it; fewer only when the whole file
 * inflates to fewer (the header's own check then says what is missing).
 */
function gunzipHead(bytes: Uint8Array, file: string, length: number): Uint8Array {
  const whole = bytes.length <= GZIP_HEAD_BYTES;
  let head: Uint8Array;
  try {
    // A prefix is inflated as far as it goes; a whole file must also end as gzip data ends.
    head = whole
      ? gunzipSync(bytes)
      : gunzipSync(bytes.subarray(0, GZIP_HEAD_BYTES), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch (error) {
    throw corrupt(file, (error as Error).message);
  }
  if (head.length < length && !whole) {
    throw corrupt(
      file,
      `its first ${GZIP_HEAD_BYTES} bytes inflate to ${head.length}, short of the ${length}-byte header`,
    );
  }
  return head.subarray(0, length);
}

/**
 * `bytes` gunzipped when they start with gzip's magic bytes (whatever the file is called), else as they are. The
 * size they may inflate to is what their header declares (`declared`; without it, gzip's own size field), checked
 * against MAX_GZIP_EXPANSION before inflating, and the output is capped there as it is inflated.
 */
export function gunzipDeclared(bytes: Uint8Array, file: string, declared?: DeclaredSize): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  let size: number;
  let field: string;
  if (declared === undefined) {
    if (bytes.length < 18)
      throw corrupt(file, `${bytes.length} bytes, shorter than gzip's header and trailer`);
    // ISIZE, the last 4 bytes: the inflated size modulo 2^32 (RFC 1952).
    size = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true);
    field = "gzip's size field";
  } else {
    size = declared.size(gunzipHead(bytes, file, declared.headerBytes));
    field = 'the header';
  }
  const allowed = Math.max(GZIP_MIN_BYTES, MAX_GZIP_EXPANSION * bytes.length);
  if (size > allowed) {
    throw new FormatError(
      `${file}: ${field} declares ${size} bytes, more than the ${allowed} a ${bytes.length}-byte gzip file may ` +
        `inflate to (${MAX_GZIP_EXPANSION}× its size, at least ${GZIP_MIN_BYTES})`,
    );
  }
  try {
    // One output chunk a byte larger than declared: no second buffer, and a byte past the size is caught at once.
    return gunzipSync(bytes, { maxOutputLength: Math.max(size, 1), chunkSize: Math.max(size + 1, 64) });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new FormatError(`${file}: gzip data inflates past the ${size} bytes ${field} declares`);
    }
    throw corrupt(file, (error as Error).message);
  }
}

/** The first of `candidates` that exists, or an error listing them all with `hint`. */
export function findFile(what: string, candidates: readonly string[], hint = ''): string {
  const found = candidates.find((file) => existsSync(file));
  if (found === undefined) {
    throw new ValueError(`${what}: none of ${candidates.join(', ')} exists${hint ? `; ${hint}` : ''}`);
  }
  return found;
}
