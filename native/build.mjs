#!/usr/bin/env node
/* global process, console */
// Builds the native addons with node-gyp, each saying in one line whether it was built: the oneDNN backend
// (build/Release/convnets_native.node) and the Gloo binding for distributed training
// (build/Release/convnets_gloo.node, from native/gloo/), each independent of the other. Run by `npm ci` (the
// package's install script) and by `make build`. It never fails: without oneDNN's headers, a compiler or node-gyp
// it says so and convnets runs on the reference backend; without Gloo (libgloo-dev) training runs in one process.
// CONVNETS_SKIP_NATIVE=1 skips both; CONVNETS_BUILD_JOBS sets node-gyp's parallel jobs (default: every core).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'build');

const lines = [];

/** Records the attempt (so make does not retry until a source changes) and says what happened, one line each. */
function finish() {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(join(buildDir, 'native.stamp'), lines.map((line) => `${line}\n`).join(''));
  for (const line of lines) console.log(`convnets: ${line}`);
  process.exit(0);
}

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

/** Why no addon can be built here at all, or undefined. */
function toolchainMissing() {
  if (process.env.CONVNETS_SKIP_NATIVE === '1') return 'CONVNETS_SKIP_NATIVE=1';
  if (!['c++', 'g++', 'clang++'].some(onPath)) return 'no C++ compiler: apt-get install g++';
  if (!onPath('make')) return 'no make: apt-get install make';
  if (!onPath('python3')) return 'no python3, which node-gyp needs';
  return undefined;
}

// npm tells its scripts where its bundled node-gyp is; outside npm, look beside the node binary.
const prefix = resolve(dirname(process.execPath), '..');
const nodeGyp = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  join(prefix, 'share/nodejs/node-gyp/bin/node-gyp.js'),
].find((file) => file && existsSync(file));

/** node-gyp rebuild in `dir`; the log goes to build/<name>-build.log; whether it succeeded. */
function nodeGypRebuild(dir, name) {
  // Node's own headers, when installed beside it (Debian's nodejs-dev, official tarballs), spare a download.
  const jobs = process.env.CONVNETS_BUILD_JOBS ?? String(availableParallelism());
  const args = [nodeGyp, 'rebuild', `--jobs=${jobs}`];
  if (existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
  const result = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
  mkdirSync(buildDir, { recursive: true }); // node-gyp rebuild removes build/ first
  const log = join(buildDir, `${name}-build.log`);
  writeFileSync(
    log,
    `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`,
  );
  return result.status === 0 ? undefined : `node-gyp failed; see ${log}`;
}

const headerDirs = ['/usr/include', '/usr/local/include', process.env.CONVNETS_DNNL_INCLUDE].filter(Boolean);
const hasHeader = (file) => headerDirs.some((dir) => existsSync(join(dir, file)));

function buildOneDnn() {
  const reason = !hasHeader('oneapi/dnnl/dnnl.hpp')
    ? 'oneDNN headers not found: apt-get install libdnnl-dev'
    : (toolchainMissing() ?? (nodeGyp === undefined ? 'node-gyp not found' : nodeGypRebuild(root, 'native')));
  return reason === undefined
    ? 'native backend built on oneDNN'
    : `native backend not built (${reason}); convnets will use the reference backend`;
}

// Built after the oneDNN addon, whose `node-gyp rebuild` empties build/ first.
function buildGloo() {
  const source = join(root, 'native/gloo');
  const reason = !hasHeader('gloo/allreduce.h')
    ? 'Gloo not found: apt-get install libgloo-dev'
    : (toolchainMissing() ?? (nodeGyp === undefined ? 'node-gyp not found' : nodeGypRebuild(source, 'gloo')));
  if (reason === undefined) {
    mkdirSync(join(buildDir, 'Release'), { recursive: true });
    copyFileSync(
      join(source, 'build/Release/convnets_gloo.node'),
      join(buildDir, 'Release/convnets_gloo.node'),
    );
  }
  // Its objects stay out of native/, which the package ships as sources.
  rmSync(join(source, 'build'), { recursive: true, force: true });
  return reason === undefined
    ? 'Gloo binding built for distributed training'
    : `Gloo binding not built (${reason}); training runs in one process only`;
}

// `node native/build.mjs gloo` rebuilds the Gloo binding alone (seconds), leaving the stamp to full builds.
if (process.argv[2] === 'gloo') {
  console.log(`convnets: ${buildGloo()}`);
  process.exit(0);
}
lines.push(buildOneDnn(), buildGloo());
finish();
