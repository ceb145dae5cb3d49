#!/usr/bin/env node
/* global process, console */
// Builds the wasm backend's kernels (dist/wasm/convnets.wasm) from wasm/src/*.c with clang's wasm32 target and
// wasm-ld: freestanding C, 128-bit SIMD, no libc. Run by `make build` and before `npm pack`. It never fails: without
// clang or wasm-ld it prints one line and exits 0, and the wasm backend says it is not built when asked for.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const outDir = join(root, 'dist/wasm');
const output = join(outDir, 'convnets.wasm');
const log = join(outDir, 'build.log');

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

function skip(reason) {
  mkdirSync(outDir, { recursive: true });
  rmSync(output, { force: true });
  console.log(`convnets: wasm backend not built (${reason})`);
  process.exit(0);
}

if (!onPath('clang')) skip('no clang: apt-get install clang lld');
if (!onPath('wasm-ld')) skip('no wasm-ld: apt-get install lld');
const sources = readdirSync(join(here, 'src'))
  .filter((file) => file.endsWith('.c'))
  .map((file) => join(here, 'src', file));
mkdirSync(outDir, { recursive: true });
const args = [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-mbulk-memory',
  '-nostdlib',
  '-Wall',
  '-Wextra',
  '-Werror',
  // A library module: no entry point; the allocator (in TypeScript) starts at __heap_base, above the C stack.
  '-Wl,--no-entry',
  '-Wl,--export=__heap_base',
  '-Wl,-z,stack-size=65536',
  '-o',
  output,
  ...sources,
];
const result = spawnSync('clang', args, { encoding: 'utf8' });
writeFileSync(log, `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`);
if (result.status !== 0) skip(`clang failed; see ${log}`);
console.log('convnets: wasm backend built (clang wasm32, SIMD128)');
