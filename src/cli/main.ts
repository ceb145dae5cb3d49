#!/usr/bin/env node
import '../index.js'; // the Node entry: registers the native backend
import { ConvnetsError } from '../errors.js';
import { version } from '../version.js';
import { nearestName } from '../options.js';
import { UsageError, helpText, parseCommand, type Command } from './command.js';
import { commands } from './commands.js';

function usage(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const lines = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return [
    `convnets ${version}: deep convolutional networks on Node.js`,
    '',
    'usage: convnets <command> [options]',
    '       convnets <command> --help     every option of a command, its default and examples',
    '',
    'commands:',
    ...lines,
    '',
    'Errors are one line; --debug (or CONVNETS_DEBUG=1) adds the stack trace. Exit status: 0 done, 1 failed, 2 usage.',
  ].join('\n');
}

function find(name: string): Command {
  const command = commands.find((c) => c.name === name);
  if (command !== undefined) return command;
  const guess = nearestName(
    name,
    commands.map((c) => c.name),
  );
  throw new UsageError(
    `unknown command '${name}'${guess ? ` (did you mean ${guess}?)` : ''}; convnets --help lists them`,
  );
}

function isSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

/** Runs one verb; returns the exit status. */
async function run(name: string | undefined, args: string[]): Promise<number> {
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(usage());
    return 0;
  }
  if (name === '--version') {
    console.log(version);
    return 0;
  }
  if (name === 'help') {
    const [verb, extra] = args;
    if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}': help takes one command`);
    console.log(verb === undefined ? usage() : helpText(find(verb)));
    return 0;
  }
  const command = find(name);
  const parsed = parseCommand(command, args);
  if (parsed.values.help === true) {
    console.log(helpText(command));
    return 0;
  }
  return (await command.run(parsed)) ?? 0;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const debug =
    process.env.CONVNETS_DEBUG === '1' || args.slice(0, args.indexOf('--') >>> 0).includes('--debug');
  const verb =
    name === undefined || name.startsWith('-') || name === 'help' ? 'convnets' : `convnets ${name}`;
  try {
    return await run(name, args);
  } catch (error) {
    // Expected failures (a ConvnetsError, or a file system refusal such as EACCES or ENOSPC, the user's to fix)
    // are one line; anything else is a bug, still one line unless --debug asks for where it happened.
    const expected = error instanceof ConvnetsError || isSystemError(error);
    const message = error instanceof Error ? error.message : String(error);
    const pointer =
      error instanceof UsageError && commands.some((c) => c.name === name)
        ? `; see convnets ${name} --help`
        : '';
    if (debug) console.error(error);
    else if (expected) console.error(`${verb}: ${message}${pointer}`);
    else
      console.error(
        `${verb}: internal error: ${message} (rerun with --debug for the stack trace, and report it)`,
      );
    return error instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
