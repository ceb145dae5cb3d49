#!/usr/bin/env node
import '../index.js'; // the Node entry: registers the native backend
import { ConvnetsError } from '../errors.js';
import { version } from '../version.js';
import { withoutArguments } from './args.js';
import { runBench } from './bench.js';
import { runDemo } from './demo.js';
import { runEval } from './eval.js';
import { runExport } from './export.js';
import { runInfo } from './info.js';
import { runModels } from './models.js';
import { runOnnx } from './onnx.js';
import { runPredict } from './predict.js';
import { runSummary } from './summary.js';
import { runTrain } from './train.js';

interface Command {
  summary: string;
  /** Returns the exit status where it is not 0 (train stopped by a signal: 130, 143). */
  run: (args: string[]) => void | number | Promise<void | number>;
}

/** One line per command; each command lives in its own file under src/cli/. */
const commands: Record<string, Command> = {
  info: { summary: 'version, backend and thread count', run: withoutArguments('info', runInfo) },
  demo: {
    summary: 'LeNet-5 forward and backward on a random batch: shapes and gradient norm',
    run: withoutArguments('demo', runDemo),
  },
  models: { summary: 'registered models: family, parameters, MACs, input size [--json]', run: runModels },
  summary: { summary: 'layer table of a model: <model> [--input C,H,W] [--json]', run: runSummary },
  train: {
    summary: 'train a model: <model> --data fashion-mnist [--epochs N] [--out DIR] ... (per-model defaults)',
    run: runTrain,
  },
  eval: {
    summary: 'test accuracy, per-class accuracy and confusion matrix of a train checkpoint: <out-dir>',
    run: runEval,
  },
  predict: {
    summary:
      'top classes or outputs: <checkpoint | model.onnx> <image-or-.npy>... | --arch M --weights F --input x.npy',
    run: runPredict,
  },
  export: {
    summary:
      'an ONNX file: <checkpoint> | --arch M [--weights F], --out F [--input C,H,W] [--batch N|dynamic] [--opset N]',
    run: runExport,
  },
  bench: {
    summary:
      'make bench from a checkout: [--threads N] [--seconds S] [--only conv,train,infer] [--models ...] [--json]',
    run: runBench,
  },
  onnx: { summary: 'ONNX backend-test cases: test <dir>... [--backend name] [--quiet]', run: runOnnx },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `convnets ${version}: deep convolutional networks on Node.js\n\nusage: convnets <command> [options]\n\ncommands:\n${lines.join('\n')}`;
}

function isSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(usage());
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    console.error(`convnets: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return (await command.run(args)) ?? 0;
  } catch (error) {
    // A file system refusal (EACCES, ENOSPC, ...) is the user's to fix, named in one line; anything else is a bug.
    if (!(error instanceof ConvnetsError) && !isSystemError(error)) throw error;
    console.error(`convnets ${name}: ${(error as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
