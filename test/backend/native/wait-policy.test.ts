// How OpenMP's idle threads wait: the addon sets a short spin (SPIN_COUNT) before libgomp reads its environment,
// unless the user chose a policy; checked in fresh processes, since libgomp reads it once, at load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SPIN_COUNT } from '../../../src/backend/native/addon.js';
import { skipNative } from './helpers.js';

const entry = fileURLToPath(new URL('../../../src/index.js', import.meta.url));

/** GOMP_SPINCOUNT and OMP_WAIT_POLICY as a process sees them after loading the native backend with `env`. */
function afterLoading(env: Record<string, string>): string {
  const inherited = { ...process.env };
  delete inherited.GOMP_SPINCOUNT;
  delete inherited.OMP_WAIT_POLICY;
  const script =
    `const c = await import(${JSON.stringify(entry)}); c.setBackend('native'); c.relu(c.randn([4]));` +
    'console.log(`${process.env.GOMP_SPINCOUNT} ${process.env.OMP_WAIT_POLICY}`);';
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...inherited, ...env },
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

test(
  'the native backend spins briefly before sleeping unless the environment says otherwise',
  { skip: skipNative },
  () => {
    assert.equal(afterLoading({}), `${SPIN_COUNT} undefined`);
    assert.equal(afterLoading({ GOMP_SPINCOUNT: '77' }), '77 undefined');
    assert.equal(afterLoading({ OMP_WAIT_POLICY: 'passive' }), 'undefined passive');
  },
);
