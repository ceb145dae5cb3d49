/* global process, console, performance */
// Training under load (issue 20): LeNet-5 training steps at batch 128 on the native backend, alone and with one
// busy process competing for the cores, for each way OpenMP's threads may wait between kernels. Each setting runs
// in a fresh process, since libgomp reads its environment once, when the addon loads.
//   node bench/under-load.mjs [--seconds S] [--threads N] [--json]
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { asJson, root, seconds, threads } from './common.mjs';

/** The waiting policies compared: the environment each child gets over convnets' own default. */
const SETTINGS = [
  { name: "convnets' default (spin 3,000)", env: {} },
  { name: 'libgomp default (spin 300,000)', env: { GOMP_SPINCOUNT: '300000' } },
  { name: 'spin 30,000', env: { GOMP_SPINCOUNT: '30000' } },
  { name: 'OMP_WAIT_POLICY=passive', env: { OMP_WAIT_POLICY: 'passive' } },
  { name: 'one thread', env: { CONVNETS_THREADS: '1' } },
];

/** In the child: images per second of LeNet-5 training steps over `seconds`, after two untimed steps. */
async function measure() {
  const convnets = await import(join(root, 'dist/src/index.js'));
  if (convnets.getBackend().name !== 'native') throw new Error('the native backend is not built');
  const net = convnets.models.get('lenet5', { seed: 1 });
  const x = convnets.randn([128, 1, 32, 32]);
  const labels = convnets.tensor(
    Int32Array.from({ length: 128 }, (_, i) => i % 10),
    [128],
    { dtype: 'int32' },
  );
  const optimizer = convnets.optim.sgd(net.parameters(), { lr: 0.01, momentum: 0.9 });
  const step = () =>
    convnets.scope(() => {
      optimizer.zeroGrad();
      convnets.crossEntropy(net.call(x), labels).backward();
      optimizer.step();
    });
  step();
  step();
  let steps = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    step();
    steps++;
  }
  const elapsed = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ imagesPerSecond: (128 * steps) / elapsed }));
}

function run(setting, competing) {
  const busy = competing ? spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }) : null;
  try {
    const child = spawnSync(process.execPath, [process.argv[1], '--child', '--seconds', String(seconds)], {
      encoding: 'utf8',
      env: { ...process.env, CONVNETS_THREADS: String(threads), ...setting.env },
    });
    if (child.status !== 0) throw new Error(`${setting.name}: ${child.stderr.trim().split('\n').pop()}`);
    return JSON.parse(child.stdout.trim().split('\n').pop()).imagesPerSecond;
  } finally {
    busy?.kill();
  }
}

if (process.argv.includes('--child')) await measure();
else {
  const results = SETTINGS.map((setting) => {
    const alone = run(setting, false);
    const underLoad = run(setting, true);
    if (!asJson)
      console.log(
        `${setting.name.padEnd(32)} alone ${alone.toFixed(0).padStart(6)} images/s, with a busy process ${underLoad
          .toFixed(0)
          .padStart(6)} images/s (${((100 * underLoad) / alone).toFixed(0)}%)`,
      );
    return { setting: setting.name, env: setting.env, alone, underLoad };
  });
  if (asJson)
    console.log(
      JSON.stringify({ threads, seconds, workload: 'lenet5 training, batch 128', results }, null, 2),
    );
}
