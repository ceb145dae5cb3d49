import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConvnetsError } from '../errors.js';

/** A file path, or the file's bytes already in memory. */
export type Source = string | Uint8Array;

/** The bytes of a source; the name errors use for it (the path, or 'bytes'). */
export async function readSource(source: Source): Promise<{ bytes: Uint8Array; name: string }> {
  // A plain Uint8Array view, whatever the caller passed (a Buffer's slice() would not copy).
  const bytes = typeof source === 'string' ? await readFile(source) : source;
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { bytes: view, name: typeof source === 'string' ? source : 'bytes' };
}

/** Runs a decoder, prefixing the message of any error convnets raises with the file's name. */
export function inFile<T>(name: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof ConvnetsError && name !== 'bytes' && !error.message.startsWith(name)) {
      error.message = `${name}: ${error.message}`;
    }
    throw error;
  }
}

/** Sequential writes into the temporary file behind writeAtomic. */
export interface Sink {
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * Writes `path` through a temporary file in the same directory, renamed over it only once everything was written
 * and flushed (DESIGN.md decision 8): an interrupted or failed save leaves the old file as it was.
 */
export async function writeAtomic(path: string, produce: (sink: Sink) => Promise<void>): Promise<void> {
  const temporary = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const handle = await open(temporary, 'wx');
  let renamed = false;
  try {
    try {
      // Explicit positions (pwrite): each write is one file system call, apart from libuv's wake-up writes,
      // so a kill test can stop the process at any one of them.
      let position = 0;
      await produce({
        write: async (bytes) => {
          let done = 0;
          while (done < bytes.length) {
            const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position);
            done += bytesWritten;
            position += bytesWritten;
          }
        },
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
    renamed = true;
  } finally {
    if (!renamed) await unlink(temporary).catch(() => undefined);
  }
}

/**
 * Flushes a directory's entries (a rename or a new file in it) to disk. Windows cannot open a directory: there
 * the rename itself is what the file system keeps.
 */
export async function syncDirectory(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (process.platform === 'win32') return;
    throw error;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export { elementSize, decodeElements, encodeElements, elementCount, type ElementType } from './elements.js';
