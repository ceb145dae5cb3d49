import { test } from 'node:test';
import { MUTATIONS_PER_FIXTURE, SEED, assertClean, runIsolated } from '../isolated.js';

test('mutated prototxt and .caffemodel files give a value or a FormatError, read alone and built into a network', async () => {
  // Each mutant is read by every reader: the text as a caffemodel and the bytes as text too.
  const seeds = ['../caffe/tiny.prototxt', '../caffe/tiny.caffemodel'];
  const readers = ['caffemodel', 'prototxt', 'caffe net', 'caffe weights'] as const;
  // A quarter of the other readers' count: each case here also builds a network (CONVNETS_FUZZ_MUTATIONS scales it).
  const mutations = Math.ceil(MUTATIONS_PER_FIXTURE / 4);
  const report = await runIsolated({
    kind: 'files',
    seeds,
    readers: [...readers],
    mutations,
    seed: SEED + 22,
  });
  assertClean(report, [...readers], seeds.length * mutations);
});
