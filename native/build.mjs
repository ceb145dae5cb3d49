#!/usr/bin/env node
/* global process, console */
// Builds the oneDNN addon (build/Release/convnets_native.node) with node-gyp. Run by `npm ci` (the package's
// install script) and by `make build`. It never fails: without oneDNN's headers, a compiler or node-gyp it
// prints one line and exits 0, and convnets runs on the reference backend. CONVNETS_SKIP_NATIVE=1 skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'build');
const log = join(buildDir, 'native-build.log');

/** Records the attempt (so make does not retry until a source changes) and says what happened, in one line. */
function finish(message) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(join(buildDir, 'native.stamp'), `${message}\n`);
  console.log(`convnets: ${message}`);
  process.exit(0);
}

function skip(reason) {
  finish(`native backend not built (${reason}); convnets will use the reference backend`);
}

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

if (process.env.CONVNETS_SKIP_NATIVE === '1') skip('CONVNETS_SKIP_NATIVE=1');
const headerDirs = ['/usr/include', '/usr/local/include', process.env.CONVNETS_DNNL_INCLUDE].filter(Boolean);
if (!headerDirs.some((dir) => existsSync(join(dir, 'oneapi/dnnl/dnnl.hpp')))) {
  skip('oneDNN headers not found: apt-get install libdnnl-dev');
}
if (!['c++', 'g++', 'clang++'].some(onPath)) skip('no C++ compiler: apt-get install g++');
if (!onPath('make')) skip('no make: apt-get install make');
if (!onPath('python3')) skip('no python3, which node-gyp needs');

// npm tells its scripts where its bundled node-gyp is; outside npm, look beside the node binary.
const prefix = resolve(dirname(process.execPath), '..');
const nodeGyp = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  join(prefix, 'share/nodejs/node-gyp/bin/node-gyp.js'),
].find((file) => file && existsSync(file));
if (nodeGyp === undefined) skip('node-gyp not found');

// Node's own headers, when installed beside it (Debian's nodejs-dev, official tarballs), spare a download.
const args = [nodeGyp, 'rebuild', `--jobs=${availableParallelism()}`];
if (existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
mkdirSync(buildDir, { recursive: true });
const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
mkdirSync(buildDir, { recursive: true }); // node-gyp rebuild removes build/ first
writeFileSync(log, `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`);
if (result.status !== 0) skip(`node-gyp failed; see ${log}`);
finish('native backend built on oneDNN');
