#!/usr/bin/env node
/* global process, console, performance, WebAssembly */
// clang's wasm32 target against AssemblyScript on the wasm backend's GEMM register tile (tile.c, tile.as): each is
// compiled at -O3 with SIMD, then timed in this Node (V8) over panels that stay in cache; prints GFLOP/s (2 FLOPs per
// multiply-add) and module sizes. AssemblyScript is not a dependency: pass its compiler, e.g.
//   npm install --prefix /tmp/as assemblyscript && node bench/wasm-toolchain/run.mjs /tmp/as/node_modules/.bin/asc
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'convnets-toolchain-'));
const asc = process.argv[2];

function compile(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.error}`);
}

const modules = {};
compile('clang', [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-mbulk-memory',
  '-nostdlib',
  '-Wl,--no-entry',
  '-o',
  join(out, 'clang.wasm'),
  join(here, 'tile.c'),
]);
modules.clang = join(out, 'clang.wasm');
if (asc) {
  // tile.as is AssemblyScript, kept out of the project's TypeScript build by its name; asc wants .ts.
  copyFileSync(join(here, 'tile.as'), join(out, 'tile.ts'));
  compile(asc, [
    join(out, 'tile.ts'),
    '-O3',
    '--enable',
    'simd',
    '--runtime',
    'stub',
    '--noAssert',
    '--initialMemory',
    '4',
    '-o',
    join(out, 'assemblyscript.wasm'),
  ]);
  modules.assemblyscript = join(out, 'assemblyscript.wasm');
} else console.log('assemblyscript: skipped (pass the path of its asc compiler)');

const KC = 256;
const REPEATS = 20_000;
for (const [name, file] of Object.entries(modules)) {
  const bytes = readFileSync(file);
  const { instance } = await WebAssembly.instantiate(bytes, { env: { abort() {} } });
  const { memory, tiles } = instance.exports;
  // Panels from 64 KiB on, clear of either module's data and stack.
  const [a, b, c] = [65536, 65536 + 4 * 4 * KC, 65536 + 12 * 4 * KC];
  new Float32Array(memory.buffer, a, 12 * KC).fill(0.5);
  let best = Infinity;
  for (let run = 0; run < 7; run++) {
    const start = performance.now();
    tiles(KC, a, b, c, REPEATS);
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  const gflops = (2 * 4 * 8 * KC * REPEATS) / best / 1e9;
  console.log(`${name}: ${gflops.toFixed(1)} GFLOP/s, module ${bytes.length} bytes`);
}
