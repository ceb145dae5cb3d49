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
  rmSync(join(outDir, 'convnets-threads.wasm'), { force: true });
  console.log(`convnets: wasm backend not built (${reason})`);
  process.exit(0);
}

if (!onPath('clang')) skip('no clang: apt-get install clang lld');
if (!onPath('wasm-ld')) skip('no wasm-ld: apt-get install lld');
const sources = readdirSync(join(here, 'src'))
  .filter((file) => file.endsWith('.c'))
  .map((file) => join(here, 'src', file));
mkdirSync(outDir, { recursive: true });
const common = [
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
];
// The threaded build: one shared memory, imported, that every thread's instance uses; each thread other than the
// first moves its instance's stack pointer to a stack of its own (src/backend/wasm/pool-thread.ts). The maximum is
// reserved address space, not memory: 2 GiB, half of what wasm32 can address.
const threaded = [
  '-matomics',
  '-mmutable-globals',
  '-Wl,--shared-memory',
  '-Wl,--import-memory',
  `-Wl,--initial-memory=${2 * 2 ** 20}`,
  `-Wl,--max-memory=${2 * 2 ** 30}`,
  '-Wl,--export=__stack_pointer',
];
const builds = [
  { file: output, flags: [] },
  { file: join(outDir, 'convnets-threads.wasm'), flags: threaded },
];
let said = '';
for (const build of builds) {
  const result = spawnSync('clang', [...common, ...build.flags, '-o', build.file, ...sources], {
    encoding: 'utf8',
  });
  said += `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  writeFileSync(log, said);
  if (result.status !== 0) {
    for (const other of builds) rmSync(other.file, { force: true });
    skip(`clang failed; see ${log}`);
  }
}
console.log('convnets: wasm backend built (clang wasm32, SIMD128; one thread and shared memory)');
