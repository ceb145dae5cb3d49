// convnets experiment transfer end to end at a tiny budget: every strategy at every size in the table, the JSON and
// the chart, the command that made them, the speed-up of cached features per epoch, and no feature cache left over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertUsageFailure, cli, withTempDir } from '../cli/helpers.js';

test(
  'experiment transfer writes the table, the results and the chart of five strategies',
  { timeout: 300_000 },
  async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, 'transfer');
      const args = [
        'experiment',
        'transfer',
        '--per-class',
        '2,3',
        '--pretrain-epochs',
        '1',
        '--pretrain-limit',
        '60',
      ];
      const result = cli([...args, '--steps', '1', '--test-limit', '40', '--out', out]);
      assert.equal(result.status, 0, result.stderr);
      const summary = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
        command: string;
        testImages: number;
        pretrain: { images: number };
        results: { strategy: string; perClass: number; top1: number; epochs: number }[];
      };
      assert.equal(summary.testImages, 40);
      assert.equal(summary.pretrain.images, 60);
      const strategies = [
        'from scratch',
        'frozen + cached features',
        'frozen, features recomputed',
        'fine-tune last stage',
        'fine-tune all',
      ];
      assert.deepEqual(
        summary.results.map((r) => `${r.perClass} ${r.strategy}`),
        [2, 3].flatMap((k) => strategies.map((s) => `${k} ${s}`)),
      );
      // The same frozen network and head, trained on the same images in the same order: cached or not, the
      // head learns the same function.
      for (const k of [2, 3]) {
        const [cached, recomputed] = ['frozen + cached features', 'frozen, features recomputed'].map(
          (s) => summary.results.find((r) => r.perClass === k && r.strategy === s)!.top1,
        );
        assert.equal(cached, recomputed, `${k} per class`);
      }
      // 40 test images: every accuracy is a whole number of them.
      for (const r of summary.results)
        assert.ok(Number.isInteger(Math.round(r.top1 * 40 * 1e6) / 1e6), String(r.top1));
      assert.match(summary.command, /experiment transfer --per-class 2,3 .*--out /);
      const table = readFileSync(join(out, 'results.md'), 'utf8');
      assert.match(
        table,
        /\| frozen \+ cached features \| \d+\.\d\d% \(\d+\.\d s\) \| \d+\.\d\d% \(\d+\.\d s\) \|/,
      );
      assert.match(table, /\| 3 \| \d+\.\d{3} s \| \d+\.\d{4} s \| \d+× \|/);
      assert.match(
        readFileSync(join(out, 'chart.svg'), 'utf8'),
        /<svg [^]*fine-tune last stage[^]*<\/svg>\n$/,
      );
      assert.deepEqual(readdirSync(out).sort(), ['chart.svg', 'results.json', 'results.md']);
    });
    assertUsageFailure(['experiment', 'transfre'], /unknown experiment 'transfre'; experiments: transfer/);
    assertUsageFailure(
      ['experiment', 'transfer', '--per-class', '10,x'],
      /--per-class must be positive integers/,
    );
  },
);
