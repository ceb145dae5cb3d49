// Options are checked everywhere: the public API is walked through the compiler, every function, constructor and
// method taking an options object is listed, and each must have a call below that gives it an unknown key and gets a
// ValueError naming the function and the key. A new function that takes options fails the first test until it has
// a call here, and the second until it checks them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import {
  ValueError,
  analysis,
  avgPool2d,
  batchNorm,
  conv2d,
  conv2dAttrs,
  conv2dFused,
  crossEntropy,
  data,
  distributed,
  dropout,
  full,
  graph,
  im2col,
  interpolate,
  io,
  loadWasmBackend,
  localResponseNorm,
  matmul,
  maxPool2d,
  models,
  nn,
  ones,
  optim,
  outputSize,
  pool2dAttrs,
  rand,
  randn,
  tensor,
  train,
  uniform,
  zeros,
} from '../src/index.js';
import { checkOptions, nearestName } from '../src/options.js';

const srcDir = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * "path #index" of every parameter of the public API that takes options: one named `options`, or typed as an
 * `…Options` interface (destructured parameters have no name). Inherited methods count once, under the class that
 * declares them; a declaration exported under several paths takes the first in sort order.
 */
function optionParameters(): string[] {
  const entry = join(srcDir, 'index.ts');
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  /** Export paths of each declaration; a name is made once the walk has seen them all. */
  const paths = new Map<ts.Node, string[]>();
  const found = new Map<ts.Node, { index: number; name: () => string }>();
  const firstPath = (node: ts.Node, fallback: string) => [...(paths.get(node) ?? [fallback])].sort()[0];
  const takesOptions = (parameter: ts.Symbol) => {
    const declaration = parameter.valueDeclaration as ts.ParameterDeclaration | undefined;
    const typeName = declaration?.type?.getText() ?? '';
    return parameter.name === 'options' || /^(Partial<)?\w*Options\b/.test(typeName);
  };
  const visitSignatures = (signatures: readonly ts.Signature[], key: ts.Node, name: () => string) => {
    for (const signature of signatures) {
      signature.getParameters().forEach((parameter, index) => {
        if (takesOptions(parameter)) found.set(key, { index, name });
      });
    }
  };
  const visited = new Set<ts.Symbol>();
  const walk = (module: ts.Symbol, prefix: string) => {
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declaration = symbol.valueDeclaration;
      if (declaration === undefined) continue;
      const path = prefix + exported.name;
      if (symbol.flags & ts.SymbolFlags.ValueModule) {
        if (!visited.has(symbol)) {
          visited.add(symbol);
          walk(symbol, `${path}.`);
        }
        continue;
      }
      paths.set(declaration, [...(paths.get(declaration) ?? []), path]);
      const type = checker.getTypeOfSymbol(symbol);
      visitSignatures(type.getCallSignatures(), declaration, () => firstPath(declaration, path));
      visitSignatures(
        type.getConstructSignatures(),
        declaration,
        () => `new ${firstPath(declaration, path)}`,
      );
      if (!(symbol.flags & ts.SymbolFlags.Class)) continue;
      for (const member of checker.getDeclaredTypeOfSymbol(symbol).getProperties()) {
        const method = member.valueDeclaration;
        if (method === undefined || !ts.isMethodDeclaration(method)) continue;
        if (ts.getCombinedModifierFlags(method) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected))
          continue;
        const owner = method.parent as ts.ClassDeclaration;
        const name = () => `${firstPath(owner, owner.name?.text ?? '?')}#${member.name}`;
        visitSignatures(checker.getTypeOfSymbol(member).getCallSignatures(), method, name);
      }
    }
  };
  walk(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!, '');
  return [...found.values()].map(({ index, name }) => `${name()} #${index}`).sort();
}

type Extra = Record<string, unknown>;
/** A call of the function that passes `extra` among otherwise valid options. */
type Call = (extra: Extra) => unknown;

// Loose views of the API, so a call can pass an extra key the types rightly refuse.
const anyModels = models as unknown as Record<string, (options: Extra) => unknown>;
const linear = () => new nn.Linear(2, 2);
const onnx = () => graph.buildOnnxModel(linear(), [1, 2]);
const fakeLoader = () =>
  data.loader(data.arrayDataset(new Float32Array(4), [0], [1, 2, 2]), { batchSize: 1 });
const optimizer = () => optim.sgd(linear().parameters(), { lr: 0.1 });
const x4 = () => zeros([1, 1, 4, 4]);
/** A convolution (layer '0') and a classifier of two classes, for the explanations, on x4(). */
const convNet = () => new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.Flatten(), new nn.Linear(8, 2));
const picture = () => ({ width: 1, height: 1, channels: 1 as const, data: new Uint8Array(1) });
const tmp = mkdtempSync(join(tmpdir(), 'convnets-options-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** Every function of optionParameters() with a call; the key is "path #index" as listed there. */
const calls: Record<string, Call> = {
  'analysis.gradCam #2': (extra) => analysis.gradCam(convNet(), x4(), { layer: '0', ...extra }),
  'analysis.gradCamPlusPlus #2': (extra) =>
    analysis.gradCamPlusPlus(convNet(), x4(), { layer: '0', ...extra }),
  'analysis.grid #1': (extra) => analysis.grid([picture()], extra),
  'analysis.heatMap #1': (extra) => analysis.heatMap(zeros([2, 2]), extra),
  'analysis.occlusion #2': (extra) => analysis.occlusion(convNet(), x4(), { patch: 2, ...extra }),
  'analysis.saliency #2': (extra) => analysis.saliency(convNet(), x4(), extra),
  'analysis.summary #2': (extra) => analysis.summary(convNet(), [1, 4, 4], extra),
  'analysis.topActivations #5': (extra) =>
    analysis.topActivations(
      convNet(),
      { length: 1, get: () => ({ image: new Float32Array(16) }) },
      '0',
      0,
      1,
      {
        inputShape: [1, 4, 4],
        ...extra,
      },
    ),
  'Tensor#backward #1': (extra) => zeros([1], { requiresGrad: true }).backward(ones([1]), extra),
  'avgPool2d #2': (extra) => avgPool2d(x4(), 2, extra),
  'batchNorm #5': (extra) => batchNorm(x4(), ones([1]), zeros([1]), null, null, { training: true, ...extra }),
  'conv2d #3': (extra) => conv2d(x4(), zeros([1, 1, 1, 1]), null, extra),
  'conv2dAttrs #1': (extra) => conv2dAttrs([1, 1], extra),
  'conv2dFused #3': (extra) => conv2dFused(x4(), zeros([1, 1, 1, 1]), null, extra, {}),
  'crossEntropy #2': (extra) => crossEntropy(zeros([1, 2]), tensor([0], [1], { dtype: 'int32' }), extra),
  'data.arrayDataset #3': (extra) => data.arrayDataset(new Float32Array(4), [0], [1, 2, 2], extra),
  'data.cifar10 #0': (extra) => data.cifar10({ dir: tmp, ...extra }),
  'data.cifar100 #0': (extra) => data.cifar100({ dir: tmp, ...extra }),
  'data.fashionMnist #0': (extra) => data.fashionMnist(extra),
  'data.idxDataset #2': (extra) => data.idxDataset('images', 'labels', extra),
  'data.imageFolder #1': (extra) => data.imageFolder(tmp, extra),
  'data.imageFiles #1': (extra) => data.imageFiles(tmp, { shape: [3, 2, 2], ...extra }),
  'data.loader #1': (extra) => data.loader(fakeLoader().dataset, { batchSize: 1, ...extra }),
  'data.mnist #0': (extra) => data.mnist({ dir: tmp, ...extra }),
  'data.readCifarBatches #1': (extra) =>
    data.readCifarBatches([], { labelBytes: 1, labelIndex: 0, numClasses: 10, ...extra }),
  'data.splitValidation #1': (extra) =>
    data.splitValidation(fakeLoader().dataset, { validation: 0, seed: 1, ...extra }),
  'data.transforms.colorShift #0': (extra) => data.transforms.colorShift({ scale: 0.1, ...extra }),
  'data.transforms.randomErasing #0': (extra) => data.transforms.randomErasing(extra),
  'data.transforms.elasticTransform #0': (extra) =>
    data.transforms.elasticTransform({ alpha: 1, sigma: 1, ...extra }),
  'data.transforms.functional.pad #2': (extra) =>
    data.transforms.functional.pad({ data: new Float32Array(1), channels: 1, height: 1, width: 1 }, 1, extra),
  'data.transforms.pad #1': (extra) => data.transforms.pad(1, extra),
  'data.transforms.pcaLighting #1': (extra) =>
    data.transforms.pcaLighting(
      {
        eigenvalues: [1, 1, 1],
        eigenvectors: [
          [1, 0, 0],
          [0, 1, 0],
          [0, 0, 1],
        ],
      },
      extra,
    ),
  'data.transforms.randomAffine #0': (extra) => data.transforms.randomAffine({ degrees: 0, ...extra }),
  'data.transforms.randomCrop #1': (extra) => data.transforms.randomCrop(2, extra),
  'data.transforms.randomResizedCrop #1': (extra) => data.transforms.randomResizedCrop(2, extra),
  'data.transforms.randomRotation #1': (extra) => data.transforms.randomRotation(0, extra),
  'data.transforms.tenCrop #1': (extra) => data.transforms.tenCrop(2, extra),
  'distributed.initProcessGroup #0': (extra) => distributed.initProcessGroup({ worldSize: 1, ...extra }),
  'distributed.processGroupSettings #0': (extra) =>
    distributed.processGroupSettings({ worldSize: 1, ...extra }),
  'distributed.distributedSampler #0': (extra) =>
    distributed.distributedSampler({ rank: 0, worldSize: 2, ...extra }),
  'distributed.distributedDataParallel #2': async (extra) =>
    distributed.distributedDataParallel(
      linear(),
      await distributed.initProcessGroup({ worldSize: 1 }),
      extra,
    ),
  'new distributed.DistributedDataParallel #2': async (extra) =>
    new distributed.DistributedDataParallel(
      linear(),
      await distributed.initProcessGroup({ worldSize: 1 }),
      extra,
    ),
  'dropout #2': (extra) => dropout(x4(), 0.5, extra),
  'full #2': (extra) => full([1], 0, extra),
  'graph.buildOnnxModel #2': (extra) => graph.buildOnnxModel(linear(), [1, 2], extra),
  'graph.runBackendTestCases #1': (extra) => graph.runBackendTestCases([], extra),
  'im2col #2': (extra) => im2col(x4(), 1, extra),
  'interpolate #1': (extra) => interpolate(x4(), { size: 2, ...extra }),
  'io.decodeCaffe #2': (extra) => io.decodeCaffe('', new Uint8Array(), extra),
  'io.loadCaffe #2': (extra) => io.loadCaffe(new Uint8Array(), new Uint8Array(), extra),
  'io.decodeOnnx #1': (extra) => io.decodeOnnx(new Uint8Array(), extra),
  'io.decodePth #1': (extra) => io.decodePth(new Uint8Array(), extra),
  'io.encodeOnnx #2': (extra) => io.encodeOnnx(linear(), [1, 2], extra),
  'io.exportOnnx #3': (extra) => io.exportOnnx(linear(), [1, 2], join(tmp, 'never.onnx'), extra),
  'io.importOnnx #1': (extra) => io.importOnnx(new Uint8Array(), extra),
  'io.loadPth #1': (extra) => io.loadPth(new Uint8Array(), extra),
  'io.loadWeights #2': (extra) => io.loadWeights(linear(), new Uint8Array(), extra),
  'io.runBackendTests #1': (extra) => io.runBackendTests([], extra),
  'localResponseNorm #2': (extra) => localResponseNorm(x4(), 1, extra),
  'matmul #2': (extra) => matmul(zeros([1, 1]), zeros([1, 1]), extra),
  'maxPool2d #2': (extra) => maxPool2d(x4(), 2, extra),
  'models.get #1': (extra) => models.get('lenet5', extra),
  'nn.Module#buffers #0': (extra) => linear().buffers(extra),
  'nn.Module#loadStateDict #1': (extra) => linear().loadStateDict(linear().stateDict(), extra),
  'nn.Module#namedBuffers #0': (extra) => linear().namedBuffers(extra),
  'nn.Module#namedParameters #0': (extra) => linear().namedParameters(extra),
  'nn.Module#numParameters #0': (extra) => linear().numParameters(extra),
  'nn.Module#parameters #0': (extra) => linear().parameters(extra),
  'nn.init.kaimingNormal #1': (extra) => nn.init.kaimingNormal(zeros([2, 2]), extra),
  'nn.init.kaimingUniform #1': (extra) => nn.init.kaimingUniform(zeros([2, 2]), extra),
  'nn.init.lecunNormal #1': (extra) => nn.init.lecunNormal(zeros([2, 2]), extra),
  'nn.init.lecunUniform #1': (extra) => nn.init.lecunUniform(zeros([2, 2]), extra),
  'nn.init.normal #3': (extra) => nn.init.normal(zeros([2, 2]), 0, 1, extra),
  'nn.init.uniform #3': (extra) => nn.init.uniform(zeros([2, 2]), 0, 1, extra),
  'nn.init.xavierNormal #1': (extra) => nn.init.xavierNormal(zeros([2, 2]), extra),
  'nn.init.xavierUniform #1': (extra) => nn.init.xavierUniform(zeros([2, 2]), extra),
  'new data.DataLoader #1': (extra) => new data.DataLoader(fakeLoader().dataset, { batchSize: 1, ...extra }),
  'new graph.OnnxModel #1': (extra) => new graph.OnnxModel(onnx(), extra),
  'new models.BasicBlock #2': (extra) => new models.BasicBlock(4, 4, extra),
  'new models.BasicConv2d #3': (extra) => new models.BasicConv2d(1, 1, 1, extra),
  'new models.Bottleneck #2': (extra) => new models.Bottleneck(16, 4, extra),
  'new models.CifarResNet #1': (extra) => new models.CifarResNet(1, extra),
  'new models.DenseNet #1': (extra) =>
    new models.DenseNet({ growthRate: 2, blockConfig: [1, 1, 1, 1], numInitFeatures: 4 }, extra),
  'new models.GoogLeNet #0': (extra) => new models.GoogLeNet(extra),
  'new models.Inception #7': (extra) => new models.Inception(4, 1, 1, 1, 1, 1, 1, extra),
  'new models.InceptionAux #2': (extra) => new models.InceptionAux(4, 2, extra),
  'new models.InceptionResNetV2 #0': (extra) => new models.InceptionResNetV2(extra),
  'new models.InceptionV3 #0': (extra) => new models.InceptionV3(extra),
  'new models.InceptionV4 #0': (extra) => new models.InceptionV4(extra),
  'new models.LeNet1998 #0': (extra) => new models.LeNet1998(extra),
  'new models.LeNet5 #0': (extra) => new models.LeNet5(extra),
  'new models.NaiveInception #4': (extra) => new models.NaiveInception(4, 1, 1, 1, extra),
  'new models.NiN #0': (extra) => new models.NiN(extra),
  'new models.ResNet #2': (extra) => new models.ResNet(models.BasicBlock, [1, 1, 1, 1], extra),
  'new models.VGG #1': (extra) => new models.VGG(new nn.Sequential(), extra),
  'new nn.AvgPool2d #1': (extra) => new nn.AvgPool2d(2, extra),
  'new nn.BatchNorm1d #1': (extra) => new nn.BatchNorm1d(2, extra),
  'new nn.BatchNorm2d #1': (extra) => new nn.BatchNorm2d(2, extra),
  'new nn.Conv2d #3': (extra) => new nn.Conv2d(1, 1, 1, extra),
  'new nn.Dropout #1': (extra) => new nn.Dropout(0.5, extra),
  'new nn.Linear #2': (extra) => new nn.Linear(1, 1, extra),
  'new nn.LocalResponseNorm #1': (extra) => new nn.LocalResponseNorm(1, extra),
  'new nn.MaxPool2d #1': (extra) => new nn.MaxPool2d(2, extra),
  'new nn.Upsample #0': (extra) => new nn.Upsample({ size: 2, ...extra }),
  'new optim.Adam #1': (extra) => new optim.Adam(linear().parameters(), extra),
  'new optim.AdamW #1': (extra) => new optim.AdamW(linear().parameters(), extra),
  'new optim.ReduceLROnPlateau #1': (extra) => new optim.ReduceLROnPlateau(optimizer(), extra),
  'new optim.SGD #1': (extra) => new optim.SGD(linear().parameters(), { lr: 0.1, ...extra }),
  'new optim.SequentialLR #1': (extra) =>
    new optim.SequentialLR(optimizer(), { schedules: [], milestones: [], ...extra }),
  'new train.ProgressDisplay #0': (extra) => new train.ProgressDisplay({ write: () => {}, ...extra }),
  'ones #1': (extra) => ones([1], extra),
  'optim.adam #1': (extra) => optim.adam(linear().parameters(), extra),
  'optim.adamW #1': (extra) => optim.adamW(linear().parameters(), extra),
  'optim.cosineAnnealingLR #1': (extra) => optim.cosineAnnealingLR(optimizer(), { tMax: 1, ...extra }),
  'optim.linearWarmup #1': (extra) => optim.linearWarmup(optimizer(), { warmupSteps: 1, ...extra }),
  'optim.multiStepLR #1': (extra) => optim.multiStepLR(optimizer(), { milestones: [], ...extra }),
  'optim.reduceLROnPlateau #1': (extra) => optim.reduceLROnPlateau(optimizer(), extra),
  'optim.sequentialLR #1': (extra) =>
    optim.sequentialLR(optimizer(), { schedules: [], milestones: [], ...extra }),
  'optim.sgd #1': (extra) => optim.sgd(linear().parameters(), { lr: 0.1, ...extra }),
  'optim.stepLR #1': (extra) => optim.stepLR(optimizer(), { stepSize: 1, ...extra }),
  'outputSize #4': (extra) => outputSize(4, 2, 1, 0, extra),
  'pool2dAttrs #1': (extra) => pool2dAttrs(2, extra),
  'rand #1': (extra) => rand([1], extra),
  'randn #1': (extra) => randn([1], extra),
  'tensor #2': (extra) => tensor([0], [1], extra),
  'io.cachedDownload #1': (extra) =>
    io.cachedDownload({ url: 'https://example.invalid/w.pth', sha256: '' }, extra),
  'train.cachedFeatures #2': (extra) =>
    train.cachedFeatures(linear(), fakeLoader().dataset, { dir: tmp, head: 'fc', split: 'train', ...extra }),
  'train.resolveData #1': (extra) => train.resolveData('fashion-mnist', extra),
  'train.freezeModel #2': (extra) => train.freezeModel(linear(), 'none', extra),
  'train.pretrained #1': (extra) => train.pretrained('resnet18:IMAGENET1K_V1', extra),
  'train.replaceHead #2': (extra) => train.replaceHead(linear(), 2, extra),
  'train.transfer #2': (extra) => train.transfer(linear(), fakeLoader().dataset, { epochs: 1, ...extra }),
  'train.evaluate #2': (extra) => train.evaluate(linear(), fakeLoader(), extra),
  'train.fit #2': (extra) =>
    train.fit(linear(), fakeLoader(), { epochs: 1, optimizer: optimizer(), ...extra }),
  'train.historyChart #1': (extra) => train.historyChart([], extra),
  'train.lineChart #1': (extra) => train.lineChart([], extra),
  'new train.GradNormLogger #1': (extra) => new train.GradNormLogger(linear(), extra),
  'train.checkTtaOptions #0': (extra) => train.checkTtaOptions(extra),
  'train.ttaViews #1': (extra) => train.ttaViews(x4(), extra),
  'train.predict #2': (extra) => train.predict(linear(), x4(), extra),
  'train.logProbabilitiesWithTta #2': (extra) => train.logProbabilitiesWithTta(linear(), x4(), extra),
  'train.saveCheckpoint #1': (extra) =>
    train.saveCheckpoint(join(tmp, 'never'), { model: linear(), epoch: 1, ...extra }),
  'loadWasmBackend #1': (extra) => loadWasmBackend(new Uint8Array(0), extra),
  'uniform #3': (extra) => uniform([1], 0, 1, extra),
  'zeros #1': (extra) => zeros([1], extra),
};
// Every registered model's builder, by its export name ('resnet20B' is registered as 'resnet20-b').
const registryName = (exportName: string) =>
  exportName
    .replace(/B$/, '-b')
    .replace(/_1998$/, '-1998')
    .replace(/Paper$/, '-paper');
const registeredNames = new Set(models.list().map((info) => info.name));
const builders = Object.keys(models).filter((name) => registeredNames.has(registryName(name)));
for (const name of builders) calls[`models.${name} #0`] = (extra) => anyModels[name](extra);

/** The error a call gives; a call that returns normally or resolves gives undefined. */
async function errorOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
    return undefined;
  } catch (error) {
    return error;
  }
}

test('every function of the public API that takes options has a call in this test', () => {
  const listed = optionParameters();
  assert.ok(listed.length > 100, `the walk found ${listed.length} functions`);
  assert.equal(builders.length, registeredNames.size, 'every registered model has its builder called');
  assert.deepEqual(
    listed.filter((name) => !(name in calls)),
    [],
    'add a call to `calls` for each, and check its options with checkOptions',
  );
});

test('an unknown option is a ValueError naming the function and the key, everywhere', async () => {
  const unchecked: string[] = [];
  for (const [name, call] of Object.entries(calls)) {
    const error = await errorOf(() => call({ unknownOptionKey: 1 }));
    const ok = error instanceof ValueError && /unknown option 'unknownOptionKey'/.test(error.message);
    if (!ok) unchecked.push(`${name}: ${error instanceof Error ? error.message : 'no error'}`);
    // The function's own name, or for a model builder the class it builds.
    else if (!/^\S+:/.test(error.message)) unchecked.push(`${name}: no function named in '${error.message}'`);
  }
  assert.deepEqual(unchecked, []);
});

test('the calls are valid without the unknown key, so the error above is about the key alone', async () => {
  // A sample across the layers (the rest need files or throw later for reasons of their own).
  for (const name of ['new nn.Conv2d #3', 'optim.sgd #1', 'data.loader #1', 'models.lenet5 #0', 'zeros #1']) {
    assert.equal(await errorOf(() => calls[name]({})), undefined, name);
  }
});

test("the issue's cases: the nearest valid key is named", () => {
  assert.throws(() => linear().numParameters({ trainable: true } as object), {
    name: 'ValueError',
    message: "Module.numParameters: unknown option 'trainable' (did you mean trainableOnly?)",
  });
  assert.throws(() => models.get('vgg11', { num_classes: 3 }), {
    name: 'ValueError',
    message: "models.VGG: unknown option 'num_classes' (did you mean numClasses?)",
  });
  assert.throws(
    () => optim.sgd(linear().parameters(), { lr: 0.1, weight_decay: 1e-4 } as object as { lr: number }),
    {
      message: "optim.sgd: unknown option 'weight_decay' (did you mean weightDecay?)",
    },
  );
  assert.throws(() => optim.sgd([{ params: linear().parameters(), lrr: 1 } as never], { lr: 0.1 }), {
    message: "sgd (param group 0): unknown option 'lrr' (did you mean lr?)",
  });
});

test('checkOptions: what counts as near, the list when nothing is, and options that are not an object', () => {
  assert.equal(nearestName('num_classes', ['numClasses', 'seed']), 'numClasses');
  assert.equal(nearestName('btachSize', ['batchSize', 'shuffle']), 'batchSize');
  assert.equal(nearestName('trainable', ['trainableOnly']), 'trainableOnly');
  assert.equal(nearestName('colour', ['seed', 'numClasses']), undefined);
  const known = { alpha: true, beta: true } as const;
  assert.doesNotThrow(() => checkOptions('f', undefined, known));
  assert.doesNotThrow(() => checkOptions('f', { alpha: 1 }, known));
  assert.throws(() => checkOptions('f', { gamma: 1 } as object, known), {
    message: "f: unknown option 'gamma' (known: alpha, beta)",
  });
  assert.throws(
    () => checkOptions('f', { alpha: 1, beta: 2, sed: undefined } as object, { ...known, seed: true }),
    {
      message: "f: unknown option 'sed' (did you mean seed?)",
    },
  );
  assert.throws(() => checkOptions('f', 3 as unknown as object, known), {
    message: 'f: options must be an object, not number 3',
  });
  assert.throws(() => checkOptions('f', [] as object, known), {
    message: 'f: options must be an object, not an array',
  });
});

test('OnnxModel.run takes a single tensor for a one-input model, and names an unknown input', () => {
  const model = new graph.OnnxModel(graph.buildOnnxModel(linear(), [1, 2], { inputName: 'input' }));
  const x = tensor([1, 2], [1, 2]);
  const byTensor = model.run(x);
  const byList = model.run([x]);
  assert.deepEqual([...byTensor.keys()], [...byList.keys()]);
  const name = model.outputs[0].name;
  assert.deepEqual(
    Array.from((byTensor.get(name) as ReturnType<typeof zeros>).data()),
    Array.from(model.call(x).data()),
  );
  assert.throws(() => model.run({ inptu: x }), {
    name: 'ValueError',
    message: "OnnxModel.run: unknown input 'inptu' (did you mean input?)",
  });
});
