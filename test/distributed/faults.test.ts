// Faults end in bounded time with one clear line: a rank killed mid-run, a peer that never comes, a port in use, a
// master that does not resolve or does not answer. Plus the distributed sampler's shards, which need no Gloo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DistributedError, distributed } from '../../src/index.js';
import { freePort, startRank } from './spawn.js';

const skip = distributed.glooAvailable()
  ? false
  : 'Gloo is missing (apt-get install libgloo-dev; make setup)';

test('a distributed sampler gives each rank every N-th index of the order, padded as PyTorch pads', () => {
  const order = Int32Array.from([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  const shards = [0, 1, 2].map((rank) =>
    Array.from(distributed.distributedSampler({ rank, worldSize: 3 }).select(order)),
  );
  assert.deepEqual(shards, [
    [9, 6, 3, 0],
    [8, 5, 2, 9],
    [7, 4, 1, 8],
  ]);
  const dropped = distributed.distributedSampler({ rank: 1, worldSize: 3, dropLast: true });
  assert.deepEqual(Array.from(dropped.select(order)), [8, 5, 2]);
  assert.equal(dropped.count(10), 3);
  assert.throws(() => distributed.distributedSampler({ rank: 2, worldSize: 2 }), /rank 2 is outside 0 … 1/);
});

test('a world of one needs no Gloo; above one without it is one line saying so', () => {
  const code = `import { distributed } from ${JSON.stringify(fileURLToPath(new URL('../../src/index.js', import.meta.url)))};
    const one = await distributed.initProcessGroup({ worldSize: 1 });
    const values = new Float32Array([1, 2]);
    await one.allreduce(values);
    console.log(one.rank, one.worldSize, Array.from(values).join());
    await distributed.initProcessGroup({ worldSize: 2, rank: 0, masterPort: 1 }).catch((e) => console.log(e.name, e.message));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, CONVNETS_GLOO_ADDON: '/nonexistent/convnets_gloo.node' },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(
    run.stdout,
    '0 1 1,2\nDistributedError a world size of 2 needs the Gloo binding: Gloo is missing: apt-get install libgloo-dev, then make setup (or node native/build.mjs)\n',
  );
});

test(
  'a rank killed mid-run ends the other with an error naming it, within the timeout',
  { skip },
  async () => {
    const port = await freePort();
    const job = { model: 'lenet5' as const, batchSize: 4, samples: 64, epochs: 100, timeoutSeconds: 20 };
    const [rank0, rank1] = [startRank(0, 2, port, job), startRank(1, 2, port, job)];
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (rank1.output().includes('step 3')) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
      rank1.exited.then(({ stderr }) => reject(new Error(`rank 1 ended early: ${stderr}`)));
    });
    rank1.child.kill('SIGKILL');
    const killedAt = performance.now();
    const { code, stderr } = await rank0.exited;
    assert.equal(code, 1);
    assert.match(stderr.trim(), /^rank 0: rank 0 of 2: allreduce of \d+ values: .+ \(another rank ended\)$/);
    assert.ok(performance.now() - killedAt < 20_000, 'rank 0 ended before its timeout');
  },
);

test(
  'a peer that never joins, a port in use and a master that is not there each end in one line',
  { skip },
  async () => {
    const port = await freePort();
    await assert.rejects(
      distributed.initProcessGroup({ worldSize: 2, rank: 0, masterPort: port, timeoutSeconds: 1 }),
      {
        name: 'DistributedError',
        message: `rank 0: rank 1 of 2 did not join within 1 s (master 127.0.0.1:${port})`,
      },
    );
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(port, resolve));
    try {
      await assert.rejects(
        distributed.initProcessGroup({ worldSize: 2, rank: 0, masterPort: port, timeoutSeconds: 1 }),
        {
          name: 'DistributedError',
          message: `port ${port} is in use on this machine (MASTER_PORT): choose another, e.g. --master 127.0.0.1:${port + 1}`,
        },
      );
    } finally {
      taken.close();
    }
    await assert.rejects(
      distributed.initProcessGroup({
        worldSize: 2,
        rank: 1,
        masterAddr: 'no-such-host.invalid',
        masterPort: port,
        timeoutSeconds: 1,
      }),
      {
        name: 'DistributedError',
        message: "the master address 'no-such-host.invalid' does not resolve (MASTER_ADDR, --master)",
      },
    );
    const error = await distributed
      .initProcessGroup({ worldSize: 2, rank: 1, masterPort: await freePort(), timeoutSeconds: 1 })
      .catch((e: unknown) => e);
    assert.ok(error instanceof DistributedError);
    assert.match(
      error.message,
      /^nobody answered at the master 127\.0\.0\.1:\d+ .*ECONNREFUSED; is rank 0 running/,
    );
  },
);
