#!/usr/bin/env node
import { getBackend } from '../backend/registry.js';
import { ConvnetsError } from '../errors.js';
import { version } from '../version.js';
import { runDemo } from './demo.js';

const usage = `convnets ${version}: deep convolutional networks on Node.js

usage: convnets <command>

commands:
  info    version, backend and thread count
  demo    build LeNet-5, run a forward and a backward pass, print shapes and the gradient norm
  help    this text`;

function info(): void {
  const backend = getBackend();
  console.log(`convnets ${version}`);
  console.log(`backend  ${backend.name}`);
  console.log(`threads  ${backend.threads}`);
  console.log(`node     ${process.version}`);
}

const commands: Record<string, () => void> = {
  info,
  demo: runDemo,
  help: () => console.log(usage),
};

const [command = 'help'] = process.argv.slice(2);
const run = commands[command];
if (run === undefined) {
  console.error(`convnets: unknown command '${command}'\n\n${usage}`);
  process.exit(2);
}
try {
  run();
} catch (error) {
  if (!(error instanceof ConvnetsError)) throw error;
  console.error(`convnets ${command}: ${error.message}`);
  process.exit(1);
}
