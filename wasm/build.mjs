#!/usr/bin/env node
/* global process, console */
// Builds the wasm backend's kernels (dist/wasm/convnets.wasm) from wasm/src/*.c with clang's wasm32 target and
// wasm-ld: freestanding C, 128-bit SIMD, no libc. Run by `make build` and before `npm pack`. It never fails: without
// clang or wasm-ld it prints one line and exits 0, and the wasm backend says it is not built when asked for.
// Each of the two builds (one thread; shared memory) comes twice: baseline SIMD, and with relaxed SIMD's fused
// multiply-add (convnets-relaxed*.wasm), which the backend loads where the runtime validates it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rewriteDraftFma } from './relaxed-simd.mjs';

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
  for (const build of builds) rmSync(build.file, { force: true });
  console.log(`convnets: wasm backend not built (${reason})`);
  process.exit(0);
}

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
const relaxed = ['-mrelaxed-simd'];
const builds = [
  { file: output, flags: [] },
  { file: join(outDir, 'convnets-threads.wasm'), flags: threaded },
  { file: join(outDir, 'convnets-relaxed.wasm'), flags: relaxed },
  { file: join(outDir, 'convnets-relaxed-threads.wasm'), flags: [...relaxed, ...threaded] },
];

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
let said = '';
let relaxedFailure = null;
for (const build of builds) {
  const isRelaxed = build.flags.includes('-mrelaxed-simd');
  if (isRelaxed && relaxedFailure !== null) continue;
  const result = spawnSync('clang', [...common, ...build.flags, '-o', build.file, ...sources], {
    encoding: 'utf8',
  });
  said += `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  writeFileSync(log, said);
  if (result.status !== 0 && !isRelaxed) {
    for (const other of builds) rmSync(other.file, { force: true });
    skip(`clang failed; see ${log}`);
  }
  // The relaxed builds are an option: a clang without relaxed SIMD leaves the baseline ones, which run everywhere.
  if (isRelaxed) {
    try {
      if (result.status !== 0) throw new Error(`clang failed; see ${log}`);
      const bytes = readFileSync(build.file);
      rewriteDraftFma(bytes);
      writeFileSync(build.file, bytes);
    } catch (error) {
      relaxedFailure = error.message;
      for (const other of builds.filter((b) => b.flags.includes('-mrelaxed-simd')))
        rmSync(other.file, { force: true });
    }
  }
}
console.log(
  relaxedFailure === null
    ? 'convnets: wasm backend built (clang wasm32, SIMD128 and relaxed SIMD; one thread and shared memory)'
    : `convnets: wasm backend built (clang wasm32, SIMD128; one thread and shared memory), without relaxed SIMD (${relaxedFailure})`,
);
