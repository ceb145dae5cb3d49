/** Checks of the paths a command is given, so that a wrong one is a line naming it rather than a system error. */
import { mkdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import { ValueError } from '../errors.js';

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** The path's stats, or null where nothing is there; other failures (EACCES, ENOTDIR) name the path. */
async function statOrNull(path: string, what: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    if (errorCode(error) === 'ENOTDIR')
      throw new ValueError(`${what} ${path}: a parent is a file, not a directory`);
    throw new ValueError(`${what} ${path}: ${(error as Error).message}`);
  }
}

/** A file that exists and is not a directory. */
export async function requireFile(path: string, what: string): Promise<void> {
  const info = await statOrNull(path, what);
  if (info === null) throw new ValueError(`${what} ${path}: no such file`);
  if (info.isDirectory()) throw new ValueError(`${what} ${path}: is a directory, not a file`);
}

/** A file about to be written: its directory must exist. */
export async function requireParentDirectory(path: string, what: string): Promise<void> {
  const parent = dirname(path);
  const info = await statOrNull(parent, what);
  if (info === null || !info.isDirectory())
    throw new ValueError(`${what} ${path}: the directory ${parent} does not exist`);
}

/**
 * Creates `path` and its missing parents, one level at a time: Node's recursive mkdir spins forever where a
 * parent exists but refuses new entries with ENOENT, as procfs does (/proc/1/x).
 */
export async function ensureDirectory(path: string, what: string): Promise<void> {
  const info = await statOrNull(path, what);
  if (info !== null) {
    if (!info.isDirectory()) throw new ValueError(`${what} ${path}: exists and is not a directory`);
    return;
  }
  const parent = dirname(path);
  if (parent !== path) await ensureDirectory(parent, what);
  try {
    await mkdir(path);
  } catch (error) {
    if (errorCode(error) === 'EEXIST' && (await statOrNull(path, what))?.isDirectory()) return;
    throw new ValueError(`${what} ${path}: cannot create the directory (${(error as Error).message})`);
  }
}

interface SvgRenderer {
  png(): { toFile(path: string): Promise<unknown> };
}

/**
 * A PNG of an SVG picture beside it, for people whose viewer opens no SVG: rendered by the optional package sharp
 * (librsvg). Returns false, writing nothing, where sharp is not installed.
 */
export async function writeSvgAsPng(svg: string, path: string): Promise<boolean> {
  // A variable keeps TypeScript from requiring sharp's types: it is an optional dependency.
  const name = 'sharp';
  const sharp = await import(name).then(
    (module: { default: (input: Buffer) => SvgRenderer }) => module.default,
    () => null,
  );
  if (sharp === null) return false;
  await sharp(Buffer.from(svg)).png().toFile(path);
  return true;
}
