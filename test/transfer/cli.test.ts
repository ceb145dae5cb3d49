// convnets train's transfer options at a tiny budget: a LeNet-5 trained on 300 Fashion-MNIST images becomes the
// pretrained network of a second run that freezes it, caches its features (read back on a third run), or fine-tunes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors } from '../../src/io/index.js';
import { assertOneLineFailure, assertUsageFailure, cli, withTempDir } from '../cli/helpers.js';

const tiny = ['--data', 'fashion-mnist', '--limit', '300', '--test-limit', '100', '--quiet'];

function run(args: readonly string[]): string {
  const result = cli(args);
  assert.equal(result.status, 0, `${args.join(' ')}:\n${result.stderr}`);
  return result.stdout + result.stderr;
}

/** The weights of the checkpoint a train run left in `dir`. */
async function checkpointWeights(dir: string) {
  const epochs = readdirSync(dir).filter((name) => name.startsWith('epoch-'));
  return (await loadSafetensors(join(dir, epochs[epochs.length - 1], 'weights.safetensors'))).tensors;
}

test('train --weights --cache-features trains the head alone on features kept in --out, reused next time', async () => {
  await withTempDir(async (dir) => {
    const pretrained = join(dir, 'pretrained');
    run(['train', 'lenet5', ...tiny, '--epochs', '1', '--out', pretrained]);
    const out = join(dir, 'transfer');
    const first = run([
      'train',
      'lenet5',
      ...tiny,
      '--epochs',
      '2',
      '--out',
      out,
      '--weights',
      pretrained,
      '--cache-features',
    ]);
    assert.match(
      first,
      /frozen: features, classifier\.0, classifier\.1, classifier\.2, classifier\.3; 850 of 61,706 parameters train/,
    );
    assert.match(first, /features computed and saved in .*features-train-[0-9a-f]{16}\.safetensors/);
    const second = run([
      'train',
      'lenet5',
      ...tiny,
      '--epochs',
      '2',
      '--out',
      out,
      '--weights',
      pretrained,
      '--cache-features',
    ]);
    assert.match(second, /features read from .*features-train-[0-9a-f]{16}\.safetensors/);
    // The frozen layers are the pretrained ones, bit for bit; the head is not.
    const before = await checkpointWeights(pretrained);
    const after = await checkpointWeights(out);
    for (const key of ['features.0.weight', 'classifier.0.weight', 'classifier.2.bias'])
      assert.deepEqual(after.get(key)!.data(), before.get(key)!.data(), key);
    assert.notDeepEqual(after.get('classifier.4.weight')!.data(), before.get('classifier.4.weight')!.data());

    const tuned = run([
      'train',
      'lenet5',
      ...tiny,
      '--epochs',
      '2',
      '--out',
      join(dir, 'tuned'),
      '--weights',
      pretrained,
      '--fine-tune',
    ]);
    assert.match(tuned, /unfrozen after epoch 1: features, classifier/);
    const fineTuned = await checkpointWeights(join(dir, 'tuned'));
    assert.notDeepEqual(fineTuned.get('features.0.weight')!.data(), before.get('features.0.weight')!.data());

    assertUsageFailure(
      [
        'train',
        'lenet5',
        ...tiny,
        '--out',
        join(dir, 'x'),
        '--weights',
        pretrained,
        '--cache-features',
        '--freeze',
        'none',
      ],
      /--cache-features needs everything below the head frozen \(--freeze all-but-head\)/,
    );
    assertUsageFailure(
      [
        'train',
        'lenet5',
        ...tiny,
        '--epochs',
        '2',
        '--out',
        join(dir, 'x'),
        '--weights',
        pretrained,
        '--unfreeze-after',
        '2',
      ],
      /--unfreeze-after 2 leaves nothing to fine-tune in 2 epochs/,
    );
    assertUsageFailure(
      ['train', 'lenet5', ...tiny, '--out', join(dir, 'x'), '--weights', pretrained, '--head', '4'],
      /--head 4 does not fit the data's 10 classes/,
    );
    assertOneLineFailure(
      ['train', 'lenet5', ...tiny, '--out', join(dir, 'x'), '--weights', 'resnet18:IMAGENET1K_V9'],
      /no weights 'resnet18:IMAGENET1K_V9'; resnet18 has resnet18:IMAGENET1K_V1, resnet18:DEFAULT$/,
    );
  });
});
