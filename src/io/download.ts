/**
 * A download cache for published weights: each file is fetched once into CONVNETS_HOME (default ~/.convnets), its
 * SHA-256 checked, written through a temporary file and renamed only when whole and verified, and read from the
 * cache ever after, network or not. Every failure is one DownloadError that says how to place the file by hand.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { DownloadError, ValueError } from '../errors.js';
import { writeAtomic } from './common.js';
import { checkOptions } from '../options.js';

/** A file to fetch: where it is published and the leading hex digits of its SHA-256 (at least 8). */
export interface DownloadSpec {
  url: string;
  sha256: string;
}

/** Bytes received so far and the total the server announced (null when it announced none). */
export type ProgressFn = (received: number, total: number | null) => void;

/** Where cachedDownload keeps files and how it shows progress. */
export interface CachedDownloadOptions {
  /** The cache's root; default convnetsHome(). Files go to <home>/weights/<file name of the URL>. */
  home?: string;
  /** Called as bytes arrive; default a progress bar on stderr when it is a terminal, else nothing. */
  progress?: ProgressFn;
}

/** The directory convnets keeps downloads in: $CONVNETS_HOME, else ~/.convnets. */
export function convnetsHome(): string {
  const fromEnvironment = process.env.CONVNETS_HOME;
  return fromEnvironment !== undefined && fromEnvironment !== ''
    ? fromEnvironment
    : join(homedir(), '.convnets');
}

/** Where the cache keeps the file of `url`. */
export function cachePath(url: string, home = convnetsHome()): string {
  const name = basename(new URL(url).pathname);
  if (name === '' || name === '.' || name === '..') throw new ValueError(`the URL ${url} names no file`);
  return join(home, 'weights', name);
}

function checkSpec(spec: DownloadSpec): string {
  const expected = spec.sha256.toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(expected))
    throw new ValueError(`sha256 '${spec.sha256}' is not 8 to 64 hexadecimal digits`);
  return expected;
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The sentence every failure ends with: how to put the file in place without this download. */
function byHand(spec: DownloadSpec, path: string): string {
  return `to place it by hand, download ${spec.url} (with a browser, or curl -L -o '${path}' '${spec.url}') and put it at ${path}; its SHA-256 must start with ${spec.sha256}`;
}

/**
 * The path of the cached copy of `spec.url`, downloading it first if the cache has none. A cached file is hashed
 * again before it is trusted (a file placed by hand is checked too). Nothing is left in the cache unless it is
 * whole and its hash matches.
 */
export async function cachedDownload(
  spec: DownloadSpec,
  options: CachedDownloadOptions = {},
): Promise<string> {
  checkOptions('io.cachedDownload', options, { home: true, progress: true });
  const expected = checkSpec(spec);
  const path = cachePath(spec.url, options.home);
  if ((await stat(path).catch(() => null))?.isFile()) {
    const actual = await fileSha256(path);
    if (!actual.startsWith(expected)) {
      throw new DownloadError(
        `${path} is in the cache but its SHA-256 is ${actual}, not ${expected}…; delete it to download it again, or ${byHand(spec, path)}`,
      );
    }
    return path;
  }
  await mkdir(join(path, '..'), { recursive: true });
  const progress = options.progress ?? defaultProgress(basename(path));
  await writeAtomic(path, async (sink) => {
    const response = await fetch(spec.url).catch((error: unknown) => {
      throw new DownloadError(`cannot download ${spec.url}: ${reason(error)}; ${byHand(spec, path)}`);
    });
    if (!response.ok || response.body === null) {
      throw new DownloadError(
        `cannot download ${spec.url}: the server answered ${response.status} ${response.statusText}; ${byHand(spec, path)}`,
      );
    }
    const announced = Number(response.headers.get('content-length'));
    const total = Number.isSafeInteger(announced) && announced > 0 ? announced : null;
    const hash = createHash('sha256');
    let received = 0;
    try {
      for await (const chunk of response.body) {
        const bytes = chunk as Uint8Array;
        hash.update(bytes);
        await sink.write(bytes);
        received += bytes.length;
        progress(received, total);
      }
    } catch (error) {
      throw new DownloadError(
        `the download of ${spec.url} stopped after ${received}${total === null ? '' : ` of ${total}`} bytes (${reason(error)}); nothing was kept. Run again, or ${byHand(spec, path)}`,
      );
    }
    if (total !== null && received !== total) {
      throw new DownloadError(
        `the download of ${spec.url} ended after ${received} of ${total} bytes; nothing was kept. Run again, or ${byHand(spec, path)}`,
      );
    }
    const actual = hash.digest('hex');
    if (!actual.startsWith(expected)) {
      throw new DownloadError(
        `the file downloaded from ${spec.url} has SHA-256 ${actual}, not ${expected}…; nothing was kept; ${byHand(spec, path)}`,
      );
    }
  });
  return path;
}

/** The innermost cause of a failed fetch, which names what happened (ECONNREFUSED, ENOTFOUND, 'other side closed'). */
function reason(error: unknown): string {
  let cause = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}

/** A one-line bar redrawn on stderr at most ten times a second; silent when stderr is not a terminal. */
function defaultProgress(label: string): ProgressFn {
  if (!process.stderr.isTTY) return () => undefined;
  let last = 0;
  return (received, total) => {
    const now = Date.now();
    const done = total !== null && received >= total;
    if (!done && now - last < 100) return;
    last = now;
    const megabytes = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    const width = 30;
    const bar =
      total === null
        ? ''
        : `[${'#'.repeat(Math.round((width * received) / total)).padEnd(width, ' ')}] ${Math.floor((100 * received) / total)} % `;
    const size =
      total === null ? `${megabytes(received)} MiB` : `${megabytes(received)}/${megabytes(total)} MiB`;
    process.stderr.write(`\r${label} ${bar}${size}${done ? '\n' : ''}`);
  };
}
