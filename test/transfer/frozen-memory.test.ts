// Fine-tuning's memory: with everything frozen below ResNet-50's layer4, the forward pass keeps nothing of the frozen
// stages (no graph needs them: PyTorch frees them as soon as nothing references them), releases each as soon as the
// next layer has read it, and the gradients of what trains are those of the full graph.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, Storage } from '../../src/backend/backend.js';
import { ReferenceBackend } from '../../src/backend/reference/index.js';
import { withBackend } from '../../src/backend/registry.js';
import * as models from '../../src/models/index.js';
import type { Module } from '../../src/nn/index.js';
import { crossEntropy, Generator, randn, scope, tensor, type Tensor } from '../../src/tensor/index.js';
import { freezeModel } from '../../src/train/index.js';

/**
 * The storages a backend's kernels made while `watching`, and the most values they held live at once before the
 * first kernel that reads `boundary` (the first trainable weight): the frozen stages' peak.
 */
class StorageWatch {
  watching = false;
  boundary: Storage | null = null;
  readonly made = new Set<Storage>();
  liveValues = 0;
  peakValues = 0;
  totalValues = 0;
  frozenPeak: number | null = null;

  /** The reference backend, every storage its kernels return and release counted while watching. */
  backend(): Backend {
    const target = new ReferenceBackend();
    return new Proxy(target, {
      get: (backend, key) => {
        const member: unknown = Reflect.get(backend, key);
        if (typeof member !== 'function') return member;
        if (key === 'release')
          return (storage: Storage) => {
            if (this.made.delete(storage)) this.liveValues -= storage.size;
            backend.release(storage);
          };
        return (...args: unknown[]) => {
          if (this.frozenPeak === null && args.includes(this.boundary)) this.frozenPeak = this.peakValues;
          const result: unknown = member.apply(backend, args);
          if (this.watching) this.count(result);
          return result;
        };
      },
    });
  }

  /** Counts a kernel's storage, or those of its result record (pooling's workspace, BatchNorm's statistics). */
  private count(result: unknown): void {
    if (typeof result !== 'object' || result === null) return;
    const storages = 'released' in result ? [result] : Object.values(result);
    for (const s of storages) {
      if (typeof s !== 'object' || s === null || !('released' in s)) continue;
      this.made.add(s as Storage);
      this.liveValues += (s as Storage).size;
      this.totalValues += (s as Storage).size;
      this.peakValues = Math.max(this.peakValues, this.liveValues);
    }
  }

  /** The sizes of the storages made while watching and not yet released, largest first. */
  liveSizes(): number[] {
    return [...this.made].map((s) => s.size).sort((a, b) => b - a);
  }
}

const labels = () => tensor(Int32Array.from([1, 7]), [2]);
const image = () => randn([2, 3, 32, 32], { generator: new Generator(5) });

/** ResNet-50 for 10 classes in training mode, layer4 and fc trainable, the rest frozen (BatchNorm in evaluation). */
function fineTuned(): Module {
  const net = models.get('resnet50', { seed: 3, numClasses: 10 });
  net.train();
  freezeModel(net, 'layer3');
  return net;
}

test('a frozen prefix keeps no activation: the forward holds only what the graph of layer4 and fc needs', () => {
  const watch = new StorageWatch();
  withBackend(watch.backend(), () =>
    scope(() => {
      const net = fineTuned();
      const x = image();
      watch.boundary = net.getParameter('layer4.0.conv1.weight')!.storage;
      watch.watching = true;
      const logits = net.call(x);
      watch.watching = false;
      // 32×32 in: conv1's output is 2×64×16×16 (32,768 values), layer1's 2×256×8×8, layer3's 2×1024×2×2 (8,192),
      // which layer4.0.conv1 and its downsample keep for their weight gradients; layer4's are 2×2048×1×1.
      const live = watch.liveSizes();
      assert.equal(live[0], 2 * 1024 * 2 * 2, `largest live storage: ${live[0]} values`);
      // Every storage still live is one the graph holds (an input or saved tensor of a node), the logits, or
      // layer4's BatchNorm statistics, which the forward pass updated.
      // (A tensor in the graph whose values no gradient rule reads has released them: it holds no storage.)
      const held = new Set<Storage>([logits.storage, ...net.buffers().map((t) => t.storage)]);
      const visited = new Set<Tensor>([logits]);
      const pending: Tensor[] = [logits];
      while (pending.length > 0) {
        const node = pending.pop()!.node;
        for (const t of [...(node?.inputs ?? []), ...(node?.saved ?? [])]) {
          if (visited.has(t)) continue;
          visited.add(t);
          if (!t.disposed) held.add(t.storage);
          pending.push(t);
        }
      }
      const unheld = [...watch.made].filter((s) => !held.has(s)).map((s) => s.size);
      assert.deepEqual(unheld, [], 'storages live after the forward pass that no graph holds');
      // Each frozen activation went once the next layer had read it: at most three of 2×256×8×8 (layer1.0's branch,
      // its downsample's convolution and BatchNorm, or the branch, the shortcut and their sum) and the block's
      // input (2×64×8×8) lived at once. Holding all of them: the sum of what the forward pass made.
      assert.equal(watch.frozenPeak, 3 * 32_768 + 8_192, `of ${watch.totalValues} values made`);
    }),
  );
});

test('the frozen fine-tune gives layer4 and fc the gradients of the full graph', () => {
  // The same forward pass with every weight recording: the frozen stages' BatchNorms in evaluation mode too.
  const gradients = (frozen: boolean) =>
    withBackend(new ReferenceBackend(), () =>
      scope(() => {
        const net = frozen ? fineTuned() : models.get('resnet50', { seed: 3, numClasses: 10 });
        if (!frozen) {
          net.train();
          for (const stage of ['conv1', 'bn1', 'layer1', 'layer2', 'layer3']) net.get(stage).eval();
        }
        crossEntropy(net.call(image()), labels()).backward();
        return new Map(
          net
            .namedParameters()
            .map(([name, p]) => [name, p.grad === null ? null : Array.from(p.grad.data())]),
        );
      }),
    );
  const fineTune = gradients(true);
  const full = gradients(false);
  const trains = (name: string) => name.startsWith('layer4.') || name.startsWith('fc.');
  assert.equal(
    [...full.keys()].filter(trains).length,
    3 * 9 + 3 + 2,
    'layer4: 9 weights a block, 3 downsample; fc 2',
  );
  for (const [name, grad] of full) {
    if (!trains(name)) {
      assert.equal(fineTune.get(name), null, `${name} is frozen`);
      assert.ok(grad !== null, `${name} has a gradient in the full graph`);
      continue;
    }
    assert.deepEqual(fineTune.get(name), grad, name);
  }
});
