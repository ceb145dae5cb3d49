// Workload 4: training steps at 224×224 (ResNet-18/50, VGG-16, GoogLeNet with its aux heads) and the fine-tuning
// step of ResNet-50 with everything frozen below layer4, on convnets' native backend; images/s, % of the limit their
// multiply-accumulates set, and the peak resident memory of a process doing only that (docs: bench/README.md).
/* global process */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  bestOfRounds,
  inferenceModels,
  log,
  root,
  seconds,
  timed,
  trainBatch,
  trainSize,
} from './common.mjs';

/** The workloads: the model in convnets' registry and torchvision, its batch, and the stage fine-tuning starts at. */
export const TRAIN224_WORKLOADS = [
  { model: 'resnet18', batch: 32 },
  { model: 'resnet50', batch: 32 },
  { model: 'vgg16', batch: 16 },
  { model: 'googlenet', batch: 32 },
  // The transfer-learning case: layer4 and fc train, all before them is frozen (BatchNorm in evaluation mode).
  { model: 'resnet50', batch: 32, trainFrom: 'layer4' },
];

/** A workload's name in the results: `resnet50-224`, `resnet50-224-finetune` (the side is --train-size's). */
const workloadName = (w) => `${w.model}-${trainSize}${w.trainFrom === undefined ? '' : '-finetune'}`;

/** The workloads of the models `--models` selects, at --train-size, with --train-batch in place of their batch. */
export function selectedWorkloads() {
  return TRAIN224_WORKLOADS.filter((w) => inferenceModels.includes(w.model)).map((w) => ({
    ...w,
    name: workloadName(w),
    size: trainSize,
    batch: trainBatch ?? w.batch,
  }));
}

/** The stage just before the trainable ones: freezeModel freezes up to and including it. */
const STAGE_BEFORE = { layer4: 'layer3' };

/**
 * One training step of a workload: forward (with GoogLeNet's aux heads, whose losses count 0.3 each, as torchvision
 * trains it), cross-entropy, backward and SGD (momentum 0.9, weight decay 5e-4) over the trainable parameters. The
 * input has the model's channels (LeNet-5's one) and the labels its classes (the CIFAR ResNets' ten).
 */
export async function trainingStep(workload) {
  const convnets = await import(join(root, 'dist/src/index.js'));
  if (convnets.getBackend().name !== 'native') convnets.setBackend('native');
  const net = convnets.models.get(workload.model, { seed: 1 });
  net.train();
  // The library's own freezing, as train.transfer does it: frozen BatchNorm stays in evaluation mode.
  if (workload.trainFrom !== undefined) convnets.train.freezeModel(net, STAGE_BEFORE[workload.trainFrom]);
  const parameters = net.parameters().filter((p) => p.requiresGrad);
  const { batch, size } = workload;
  const { inputShape, numClasses } = convnets.models.info(workload.model);
  const x = convnets.randn([batch, inputShape[0], size, size], { generator: new convnets.Generator(1) });
  const labels = convnets.tensor(
    Int32Array.from({ length: batch }, (_, i) => (i * 37) % numClasses),
    [batch],
    { dtype: 'int32' },
  );
  const optimizer = convnets.optim.sgd(parameters, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  // As fit runs it: recorded at the third step and replayed from the fourth where a step is short (step-replay.ts).
  const replay = new convnets.train.StepReplay(net, optimizer, (images, targets) =>
    convnets.scope(() => {
      optimizer.zeroGrad();
      const outputs = convnets.nn.callWithAuxiliary(net, images);
      const loss = convnets.nn.lossWithAuxiliary(outputs, targets, convnets.crossEntropy);
      loss.backward();
      optimizer.step();
      return { loss, logits: outputs.logits };
    }),
  );
  const step = () => {
    const { loss, logits } = replay.run(x, labels);
    const value = loss.item();
    loss.dispose();
    logits.dispose();
    return value;
  };
  return { convnets, net, step };
}

/**
 * Multiply-accumulates one image costs in a step, from the library's summary at the workload's side: 3 × the forward
 * MACs for a training step (forward, backward-data, backward-weights), GoogLeNet's aux heads included; for
 * fine-tuning, the forward MACs plus backward-weights and backward-data of the trainable stages only, less the
 * backward-data of the convolutions that read the frozen stages' output (no gradient flows below them).
 */
export function macsPerImage(convnets, net, workload) {
  const { summary } = convnets;
  const main = summary(net, [1, 3, workload.size, workload.size]);
  // A block's branches keep its side: any of its rows gives the side of its output.
  const sideOf = (block) => main.rows.find((row) => row.path.startsWith(`${block}.`)).outputShape.slice(2);
  let forward = main.totals.macs;
  // The evaluation summary leaves out GoogLeNet's aux heads; each reads an inception block's output.
  if (workload.model === 'googlenet') {
    for (const [path, input] of [
      ['aux1', 'inception4a'],
      ['aux2', 'inception4d'],
    ]) {
      const head = net.get(path);
      forward += summary(head, [1, head.conv.conv.inChannels, ...sideOf(input)]).totals.macs;
    }
  }
  if (workload.trainFrom === undefined) return 3 * forward;
  const macsOf = (rows) => rows.reduce((sum, row) => sum + row.macs, 0);
  const trainable = main.rows.filter(
    (row) => row.path === 'fc' || row.path.startsWith(`${workload.trainFrom}.`),
  );
  const readingFrozen = main.rows.filter((row) =>
    [`${workload.trainFrom}.0.conv1`, `${workload.trainFrom}.0.downsample.0`].includes(row.path),
  );
  return forward + 2 * macsOf(trainable) - macsOf(readingFrozen);
}

/** Releases a model's weights and gradients now rather than at garbage collection (VGG-16's: 553 MB each). */
function release(net) {
  for (const t of [...net.parameters(), ...net.buffers()]) {
    t.grad?.dispose();
    t.dispose();
  }
}

/**
 * The resident-set high-water mark, in bytes, of a fresh Node process doing nothing but a few steps of the workload
 * (bench/train-peak.mjs), or why it failed.
 */
export function convnetsPeakBytes(workload) {
  const run = spawnSync(
    process.execPath,
    [
      join(root, 'bench/train-peak.mjs'),
      workload.model,
      String(workload.size),
      String(workload.batch),
    ].concat(workload.trainFrom === undefined ? [] : [workload.trainFrom]),
    { encoding: 'utf8', env: process.env, maxBuffer: 1 << 20 },
  );
  if (run.status !== 0)
    return { peakSkipped: `train-peak.mjs failed: ${run.stderr.trim().split('\n').pop()}` };
  const { peakBytes } = JSON.parse(run.stdout.trim().split('\n').pop());
  return { peakBytes };
}

/** The figure of a timed step: images/s, and GFLOP/s counting 2 FLOPs per MAC of `macs` per image. */
function figure(timing, workload, macs) {
  const imagesPerSecond = workload.batch / timing.seconds;
  return {
    ...timing,
    side: workload.size,
    batch: workload.batch,
    imagesPerSecond,
    macsPerImage: macs,
    gflops: (2 * macs * imagesPerSecond) / 1e9,
  };
}

/** Alternating turns of convnets and the PyTorch process, as workload 1's. */
const ROUNDS = 3;

/**
 * Workload 4 for convnets and PyTorch (`pytorch(workloads, blockSeconds)` runs bench/peers/torch_peer.py): each model
 * in ROUNDS turns of at least `seconds / ROUNDS` and 2 steps after one untimed step, convnets then PyTorch, best
 * kept; then each one's peak memory in its own process.
 */
export async function train224(pytorch) {
  const workloads = selectedWorkloads();
  const convnetsFigures = {};
  const torchFigures = {};
  let torchSkipped = null;
  let torchVersion = {};
  for (const workload of workloads) {
    const { convnets, net, step } = await trainingStep(workload);
    const macs = macsPerImage(convnets, net, workload);
    const mine = [];
    const theirs = [];
    // What torch_peer.py builds: name, torchvision model, side, batch and the first trainable stage (or none).
    const peerWorkload = [
      workload.name,
      workload.model,
      workload.size,
      workload.batch,
      workload.trainFrom ?? '',
    ].join(':');
    for (let round = 1; round <= ROUNDS; round++) {
      log(`${workload.name}, batch ${workload.batch}: round ${round} of ${ROUNDS}`);
      const timing = await timed(step, 2, 1, seconds / ROUNDS);
      mine.push(figure(timing, workload, macs));
      log(`  convnets: ${mine.at(-1).imagesPerSecond.toFixed(1)} images/s`);
      if (torchSkipped !== null) continue;
      const peer = pytorch([`train224:${peerWorkload}`], seconds / ROUNDS);
      if (peer.skipped) torchSkipped = peer.skipped;
      else {
        torchVersion = { version: peer.version, threads: peer.threads };
        theirs.push(figure(peer.train[workload.name], workload, macs));
      }
    }
    release(net);
    convnetsFigures[workload.name] = {
      ...figure(bestOfRounds(mine), workload, macs),
      ...convnetsPeakBytes(workload),
    };
    const { peakBytes, peakSkipped } = convnetsFigures[workload.name];
    log(`  convnets peak resident memory: ${peakSkipped ?? `${(peakBytes / 2 ** 20).toFixed(0)} MiB`}`);
    if (torchSkipped !== null) continue;
    const peak = pytorch([`peak:${peerWorkload}`]);
    torchFigures[workload.name] = {
      ...figure(bestOfRounds(theirs), workload, macs),
      ...(peak.skipped ? { peakSkipped: peak.skipped } : { peakBytes: peak.peak[workload.name].peakBytes }),
    };
  }
  return {
    convnets: convnetsFigures,
    pytorch: torchSkipped === null ? { ...torchVersion, train: torchFigures } : { skipped: torchSkipped },
  };
}
