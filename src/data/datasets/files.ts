import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { FormatError, ValueError } from '../../errors.js';

/** A file's bytes, gunzipped when they start with gzip's magic bytes (whatever the file is called). */
export function readMaybeGzipped(file: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new ValueError(`${file}: cannot read (${(error as Error).message})`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (error) {
      throw new FormatError(`${file}: gzip data is corrupt or truncated (${(error as Error).message})`);
    }
  }
  return bytes;
}

/** The first of `candidates` that exists, or an error listing them all with `hint`. */
export function findFile(what: string, candidates: readonly string[], hint = ''): string {
  const found = candidates.find((file) => existsSync(file));
  if (found === undefined) {
    throw new ValueError(`${what}: none of ${candidates.join(', ')} exists${hint ? `; ${hint}` : ''}`);
  }
  return found;
}
