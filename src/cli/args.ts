import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ValueError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommandArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** node:util's parseArgs, strict, with its errors turned into ValueErrors that the CLI prints without a stack. */
export function parseCommandArgs(args: string[], options: Options): ParsedCommandArgs {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as ParsedCommandArgs['values'], positionals };
  } catch (error) {
    // Some of parseArgs' messages span lines ('argument is ambiguous.\nDid you forget...'): the CLI prints one.
    if (error instanceof TypeError) throw new ValueError(error.message.replaceAll('\n', ' '));
    throw error;
  }
}

/** A command that takes no arguments, refusing any it is given (options included). */
export function withoutArguments(
  verb: string,
  run: () => void | Promise<void>,
): (args: string[]) => void | Promise<void> {
  return (args) => {
    refuseArguments(verb, parseCommandArgs(args, {}).positionals);
    return run();
  };
}

/** Extra positional arguments are a usage error, not silently ignored. */
export function refuseArguments(verb: string, positionals: readonly string[]): void {
  if (positionals.length > 0)
    throw new ValueError(`unexpected argument '${positionals[0]}': ${verb} takes no arguments`);
}
