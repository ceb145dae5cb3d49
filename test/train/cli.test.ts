import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../src/data/index.js';
import { readCheckpointState } from '../../src/train/index.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const haveData = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));

function cli(args: string[]) {
  return spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CONVNETS_BACKEND: process.env.CONVNETS_BACKEND ?? 'reference' },
  });
}

/** What a run directory holds: chart.png where the optional package sharp renders the SVG. */
function runFiles(checkpoint: string): string[] {
  const files = [
    'chart.svg',
    'checkpoint.json',
    checkpoint,
    'history.csv',
    'history.json',
    'report.html',
    'report.md',
  ];
  return (haveSharp ? ['chart.png', ...files] : files).sort();
}
const haveSharp = await import('sharp' as string).then(
  () => true,
  () => false,
);

test(
  'convnets train: a 1-epoch smoke run on a slice of Fashion-MNIST writes every file; eval reads it back',
  {
    skip: haveData
      ? false
      : `no Fashion-MNIST at ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`,
  },
  async () => {
    const out = await mkdtemp(join(tmpdir(), 'convnets-train-'));
    try {
      const train = cli([
        'train',
        'lenet5',
        '--data',
        'fashion-mnist',
        '--limit',
        '256',
        '--test-limit',
        '200',
        '--epochs',
        '1',
        '--batch-size',
        '32',
        '--workers',
        '0',
        '--out',
        out,
        '--recompute',
      ]);
      assert.equal(train.status, 0, train.stderr);
      assert.match(train.stderr, /epoch 1\/1 \| loss [\d.]+ top-1 [\d.]+% \| val loss/);
      assert.match(train.stderr, /test accuracy [\d.]+%/);
      // Validation is a seeded tenth of the 256 training images, never the test set, which is measured once.
      assert.match(train.stderr, /on fashion-mnist: 230 images, validation 26, test 200;/);
      assert.match(train.stderr, /validation accuracy [\d.]+%; test accuracy/);
      assert.deepEqual((await readdir(out)).sort(), runFiles('epoch-1'));
      assert.deepEqual((await readdir(join(out, 'epoch-1'))).sort(), [
        'optimizer.safetensors',
        'state.json',
        'weights.safetensors',
      ]);
      const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8'));
      assert.equal(history.length, 1);
      assert.match(await readFile(join(out, 'history.csv'), 'utf8'), /^epoch,trainLoss,.*\n1,/);
      assert.match(
        await readFile(join(out, 'chart.svg'), 'utf8'),
        /<svg[^>]*>[\s\S]*train loss[\s\S]*<\/svg>/,
      );
      const report = await readFile(join(out, 'report.md'), 'utf8');
      assert.match(report, /# lenet5 on fashion-mnist/);
      assert.match(report, /61,706 parameters/);
      assert.match(report, /- settings: .*, recompute true/);
      assert.match(report, /final test accuracy: [\d.]+%/);
      assert.match(report, /\| 9 \| Ankle boot \| [\d.]+% \|/);

      const evaluation = cli(['eval', out, '--limit', '200']);
      assert.equal(evaluation.status, 0, evaluation.stderr);
      assert.match(evaluation.stdout, /lenet5 \(epoch 1\) on fashion-mnist test, 200 images/);
      assert.match(evaluation.stdout, /accuracy [\d.]+%/);
      assert.match(evaluation.stdout, /confusion matrix/);
      // Ten rows of the matrix, each summing with the others to the 200 images.
      const rows = evaluation.stdout.split('confusion matrix')[1].trim().split('\n').slice(2);
      assert.equal(rows.length, 10);
      const total = rows.flatMap((r) =>
        r
          .trim()
          .split(/\s+/)
          .filter((v) => /^\d+$/.test(v))
          .map(Number),
      );
      assert.equal(
        total.reduce((a, b) => a + b, 0),
        200,
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);

test('convnets train: unknown options and models are clear errors', () => {
  const result = cli(['train', 'vgg17', '--data', 'fashion-mnist']);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /unknown model 'vgg17'; known models: lenet5, .*vgg16/);
  const data = cli(['train', 'lenet5', '--data', 'no/such/dir']);
  assert.equal(data.status, 1);
  assert.match(
    data.stderr,
    /--data no\/such\/dir: no such file or directory \(nor 'fashion-mnist', the built-in\)/,
  );
  const bad = cli(['train', 'lenet5', '--data', 'fashion-mnist', '--epochs', '2x']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--epochs must be an integer ≥ 1, got '2x'/);
});

/** Starts `convnets train`, waits for its first epoch line on stderr, then sends `signals` 50 ms apart. */
function interrupted(
  args: string[],
  signals: NodeJS.Signals[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, 'train', ...args], {
      env: { ...process.env, CONVNETS_BACKEND: process.env.CONVNETS_BACKEND ?? 'reference' },
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (sent || !/^epoch 1\//m.test(stderr)) return;
      sent = true;
      signals.forEach((signal, i) => setTimeout(() => child.kill(signal), 50 * i));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const smallRun = (out: string) => [
  'lenet5',
  '--data',
  'fashion-mnist',
  '--limit',
  '256',
  '--test-limit',
  '64',
  '--epochs',
  '3',
  '--batch-size',
  '32',
  '--out',
  out,
];

test(
  'convnets train: SIGINT stops at a step with status 130 and one line naming the checkpoint and the command that resumes it',
  { skip: haveData ? false : `no Fashion-MNIST at ${FASHION_MNIST_DIR}` },
  async () => {
    const out = await mkdtemp(join(tmpdir(), 'convnets-sigint-'));
    try {
      const run = await interrupted(smallRun(out), ['SIGINT']);
      assert.equal(run.code, 130, run.stderr);
      const last = run.stderr.trim().split('\n').at(-1) ?? '';
      assert.match(
        last,
        /^convnets train: fit: stopped by SIGINT (at the start of epoch 2|in epoch 2 after step \d of 8); the last good checkpoint \(epoch 1\) is kept in .+; resume with: node .+ --resume$/,
      );
      assert.doesNotMatch(run.stderr, /\n\s+at /);
      assert.equal((await readCheckpointState(out)).epoch, 1);
      assert.deepEqual(
        (await readdir(out)).filter((name) => name.startsWith('.')),
        [],
      );

      // The printed command, run as a shell would, resumes from epoch 1 and finishes the run.
      const command = last.split('resume with: ')[1];
      assert.ok(command.endsWith(`--out ${out} --resume`), command);
      const resumed = spawnSync(command, {
        shell: true,
        encoding: 'utf8',
        env: { ...process.env, CONVNETS_BACKEND: process.env.CONVNETS_BACKEND ?? 'reference' },
      });
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.doesNotMatch(resumed.stderr, /epoch 1\/3/);
      assert.match(resumed.stderr, /epoch 2\/3[\s\S]*epoch 3\/3[\s\S]*test accuracy/);
      const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8')) as { epoch: number }[];
      assert.deepEqual(
        history.map((r) => r.epoch),
        [1, 2, 3],
      );
      assert.deepEqual((await readdir(out)).sort(), runFiles('epoch-3'));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);

test(
  'convnets train: SIGTERM exits 143 keeping the last checkpoint; a second SIGINT ends the process at once',
  { skip: haveData ? false : `no Fashion-MNIST at ${FASHION_MNIST_DIR}` },
  async () => {
    const out = await mkdtemp(join(tmpdir(), 'convnets-sigterm-'));
    try {
      const term = await interrupted(smallRun(out), ['SIGTERM']);
      assert.equal(term.code, 143, term.stderr);
      assert.match(
        term.stderr.trim().split('\n').at(-1) ?? '',
        /stopped by SIGTERM .* resume with: .* --resume$/,
      );
      assert.equal((await readCheckpointState(out)).epoch, 1);

      // After the first signal both go back to their default action; whichever ends the process, the checkpoint
      // of epoch 1 (or of epoch 2, if its save finished first) stays loadable.
      const again = await mkdtemp(join(tmpdir(), 'convnets-sigint-twice-'));
      try {
        const twice = await interrupted(smallRun(again), ['SIGINT', 'SIGINT']);
        assert.ok(
          twice.code === 130 || twice.signal === 'SIGINT',
          `${twice.code} ${twice.signal}: ${twice.stderr}`,
        );
        assert.ok([1, 2].includes((await readCheckpointState(again)).epoch));
      } finally {
        await rm(again, { recursive: true, force: true });
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);

test('convnets train: --workers above the cores is refused, naming the limit', () => {
  const cores = availableParallelism();
  const result = cli(['train', 'lenet5', '--data', 'fashion-mnist', '--workers', String(cores + 1)]);
  assert.equal(result.status, 2);
  assert.equal(
    result.stderr,
    `convnets train: --workers must be at most ${cores} (the cores this machine offers), got ${cores + 1}; see convnets train --help\n`,
  );
});
