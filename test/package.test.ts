// The package as users install it: `npm pack`, then `npm install ./convnets-x.y.z.tgz` into an empty project, which
// builds the addon (or falls back, saying so in one line) and needs no TypeScript compiler; there `npx convnets info`
// runs, `convnets` and `convnets/browser` import, and their types check with tsc. Skipped, in one line, where npm
// cannot reach the registry or the tarball cannot be made. The addon's compilation takes most of its time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const tsc = join(root, 'node_modules/typescript/bin/tsc');

/** This environment less what selects a backend or an addon, so the project runs as a user's would. */
function userEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CONVNETS_BACKEND;
  delete env.CONVNETS_NATIVE_ADDON;
  return env;
}

function run(command: string, args: string[], cwd: string, timeoutSeconds = 120): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: userEnvironment(),
    timeout: timeoutSeconds * 1000,
  });
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
  assert.equal(result.status, 0, `${what} failed:\n${result.stdout}${result.stderr}${result.error ?? ''}`);
  return result.stdout;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * The package's own files in a fresh directory, with the build outputs of the current sources only (a dist/ left
 * from sources since deleted would otherwise be packed too: `npm pack` itself rebuilds dist/src first).
 */
function stagePackage(staging: string): void {
  for (const file of ['package.json', 'README.md', 'binding.gyp', 'native']) {
    cpSync(join(root, file), join(staging, file), { recursive: true });
  }
  const built = join(root, 'dist/src');
  for (const file of filesUnder(built)) {
    const source = join(root, 'src', relative(built, file).replace(/\.(js|d\.ts|js\.map)$/, '.ts'));
    if (!existsSync(source)) continue;
    mkdirSync(dirname(join(staging, 'dist/src', relative(built, file))), { recursive: true });
    cpSync(file, join(staging, 'dist/src', relative(built, file)));
  }
  // The browser page, as built (make web), where it is.
  if (existsSync(join(root, 'dist/web')))
    cpSync(join(root, 'dist/web'), join(staging, 'dist/web'), { recursive: true });
}

/** The page's files in dist/web that the package ships: no source maps, no build stamp. */
function webFiles(): string[] {
  const web = join(root, 'dist/web');
  if (!existsSync(web)) return [];
  return filesUnder(web)
    .map((file) => relative(root, file))
    .filter((file) => !file.endsWith('.map') && !file.endsWith('.built'));
}

/**
 * What the tarball must hold: each source's JavaScript and declarations (the page's sources, src/web/, ship as
 * the page built in dist/web), the addon's sources, no maps, no tests.
 */
function expectedFiles(): string[] {
  const sources = filesUnder(join(root, 'src'))
    .map((file) => relative(join(root, 'src'), file))
    .filter((file) => !file.startsWith('web/'));
  return [
    'package.json',
    'README.md',
    'binding.gyp',
    ...filesUnder(join(root, 'native')).map((file) => relative(root, file)),
    ...sources.flatMap((file) => [
      `dist/src/${file.replace(/\.ts$/, '.js')}`,
      `dist/src/${file.replace(/\.ts$/, '.d.ts')}`,
    ]),
    ...webFiles(),
  ].sort();
}

const consumerCode = {
  'node-user.ts': `import { models, summary, randn, type Tensor } from 'convnets';
const net = models.get('lenet5').eval();
const logits: Tensor = net.call(randn([1, 1, 32, 32]));
const parameters: number = summary(net, [1, 1, 32, 32]).totals.parameters;
console.log(logits.shape, parameters);
`,
  'browser-user.ts': `import { getBackend, models, randn, type Tensor } from 'convnets/browser';
const logits: Tensor = models.lenet5().call(randn([1, 1, 32, 32]));
const backend: string = getBackend().describe().name;
console.log(logits.shape, backend);
`,
  'wrong.ts': `import { models } from 'convnets';
const name: string = models.lenet5();
`,
};

/** A tsconfig for one consumer file: Node's types from this repository for Node, the DOM's for a browser. */
function tsconfig(file: string, platform: 'node' | 'browser'): string {
  const compilerOptions = {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    ...(platform === 'node'
      ? { lib: ['es2022'], types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }
      : { lib: ['es2022', 'dom'], types: [] }),
  };
  return JSON.stringify({ compilerOptions, files: [file] });
}

test('the packed tarball installs into an empty project and runs there, types included', (t) => {
  const started = performance.now();
  if (run('npm', ['--version'], root).status !== 0) return t.skip('npm is not installed');
  if (run('npm', ['ping'], root, 30).status !== 0) return t.skip('npm cannot reach the registry');
  const directory = mkdtempSync(join(tmpdir(), 'convnets-package-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  const staging = join(directory, 'package');
  const project = join(directory, 'project');
  mkdirSync(staging);
  mkdirSync(project);

  stagePackage(staging);
  const pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', directory], staging);
  if (pack.status !== 0) return t.skip(`the tarball cannot be made: ${pack.stderr.trim().split('\n')[0]}`);
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  assert.equal(packed.filename, `convnets-${packageJson.version}.tgz`);
  assert.deepEqual(packed.files.map((file) => file.path).sort(), expectedFiles());

  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'project', private: true, type: 'module' }),
  );
  const installStarted = performance.now();
  ok(
    run('npm', ['install', '--no-audit', '--no-fund', join(directory, packed.filename)], project, 240),
    'npm install',
  );
  const installSeconds = (performance.now() - installStarted) / 1000;
  const installed = join(project, 'node_modules/convnets');
  assert.ok(!existsSync(join(project, 'node_modules/typescript')), 'no TypeScript compiler is installed');

  // The install script's one line, kept in build/native.stamp: built, or why not.
  const stampFile = join(installed, 'build/native.stamp');
  assert.ok(existsSync(stampFile), 'the install script ran (an npm that blocks install scripts skips it)');
  const stamp = readFileSync(stampFile, 'utf8');
  const built = existsSync(join(installed, 'build/Release/convnets_native.node'));
  assert.match(stamp, built ? /^native backend built on oneDNN\n/ : /^native backend not built \(.+\); .+\n/);
  // The second line: the Gloo binding for distributed training, built or why not.
  assert.match(stamp, /\n(Gloo binding built for distributed training|Gloo binding not built \(.+\); .+)\n$/);

  const info = run('npx', ['--no', 'convnets', 'info'], project);
  ok(info, 'npx convnets info');
  assert.match(info.stdout, new RegExp(`^convnets ${packageJson.version.replaceAll('.', '\\.')}\n`));
  if (built) {
    assert.match(info.stdout, /^backend {2}native\noneDNN {3}\d/m);
    assert.equal(info.stderr, '');
  } else {
    assert.match(info.stdout, /^backend {2}reference$/m);
    assert.match(info.stderr, /^convnets: native backend unavailable \(.+\); using the reference backend\n$/);
  }

  // Each entry in a process of its own: one process shares one registry, whichever entry loaded it.
  const importing = (code: string, what: string) =>
    JSON.parse(ok(run(process.execPath, ['--input-type=module', '-e', code], project), what)) as unknown;
  const lenet = `const net = models.get('lenet5').eval();
    const logits = noGrad(() => net.call(randn([2, 1, 32, 32])));
    const result = { backend: getBackend().name, parameters: net.numParameters(), shape: logits.shape };`;
  assert.deepEqual(
    importing(
      `import { getBackend, models, noGrad, randn } from 'convnets';
      ${lenet}
      console.log(JSON.stringify(result));`,
      "importing 'convnets'",
    ),
    { backend: built ? 'native' : 'reference', parameters: 61_706, shape: [2, 10] },
  );
  assert.deepEqual(
    importing(
      `import * as browser from 'convnets/browser';
      const { getBackend, models, noGrad, randn } = browser;
      ${lenet}
      console.log(JSON.stringify({ ...result, nodeOnly: ['train'].filter((name) => name in browser), io: Object.keys(browser.io).sort() }));`,
      "importing 'convnets/browser'",
    ),
    // Of io/, the browser entry has the safetensors format as bytes only, no file functions.
    {
      backend: 'reference',
      parameters: 61_706,
      shape: [2, 10],
      nodeOnly: [],
      io: ['decodeSafetensors', 'encodeSafetensors'],
    },
  );

  for (const [file, code] of Object.entries(consumerCode)) writeFileSync(join(project, file), code);
  writeFileSync(join(project, 'tsconfig.node.json'), tsconfig('node-user.ts', 'node'));
  writeFileSync(join(project, 'tsconfig.browser.json'), tsconfig('browser-user.ts', 'browser'));
  writeFileSync(join(project, 'tsconfig.wrong.json'), tsconfig('wrong.ts', 'node'));
  ok(run(process.execPath, [tsc, '-p', 'tsconfig.node.json'], project), 'tsc on a Node consumer');
  ok(
    run(process.execPath, [tsc, '-p', 'tsconfig.browser.json'], project),
    'tsc on a browser consumer, no Node types',
  );
  // The types are the library's, not any: a model is no string.
  const wrong = run(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], project);
  assert.notEqual(wrong.status, 0);
  assert.match(
    wrong.stdout,
    /wrong\.ts\(2,7\): error TS2322: Type 'LeNet5' is not assignable to type 'string'/,
  );

  t.diagnostic(
    `npm install (the addon ${built ? 'compiled' : 'not built'}) ${installSeconds.toFixed(0)} s of ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
});
