/**
 * How a verb declares itself: its synopsis, each option with its value, default and help, and examples. From that
 * one declaration come the verb's `--help`, strict parsing (an unknown flag is named with the nearest known one),
 * negative numbers as option values, and the line `convnets help` lists.
 */
import { parseArgs } from 'node:util';
import { ValueError } from '../errors.js';
import { nearestName } from '../options.js';

/** An option: with `value` it takes one (`--epochs N`), without it is a switch (`--json`). */
export interface OptionSpec {
  /** What the value looks like in help: `N`, `DIR`, `sgd|adam`. */
  value?: string;
  help: string;
  /** The default as help shows it, where there is one. */
  default?: string;
  /** The option may be given more than once; its values come as a list. */
  multiple?: boolean;
  /** A one-letter form, `-n` for `--nproc`. */
  short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** What parsing gives a verb: each option's value (absent when not given) and the positional arguments. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]?: O[K] extends { value: string }
    ? O[K] extends { multiple: true }
      ? string[]
      : string
    : boolean;
};

export interface Parsed<O extends OptionSpecs> {
  values: OptionValues<O>;
  positionals: string[];
  /** The arguments as given, for a command line to print back (train's resume line). */
  args: readonly string[];
}

export interface Command<O extends OptionSpecs = OptionSpecs> {
  name: string;
  /** One line for `convnets help`. */
  summary: string;
  /** What follows the verb: `<model> [options]`; one entry per form. */
  synopsis: readonly string[];
  /** A paragraph or two for `--help`. */
  description?: string;
  options: O;
  examples: readonly string[];
  /** Returns the exit status where it is not 0 (train stopped by a signal: 130, 143). */
  run(parsed: Parsed<O>): void | number | Promise<void | number>;
}

/** A command line the user has to change: printed with a pointer to the verb's help, exit status 2. */
export class UsageError extends ValueError {}

/** Declares a verb; the identity, for the option types to flow from `options` into `run`. */
export function defineCommand<O extends OptionSpecs>(command: Command<O>): Command<O> {
  return command;
}

/** Options every verb takes; main() handles them before the verb sees its arguments. */
export const commonOptions: OptionSpecs = {
  help: { help: 'this help' },
  debug: { help: 'print the stack trace of an error (also CONVNETS_DEBUG=1)' },
};

const looksNegative = /^-(\d|\.\d)/;

/**
 * Checks every flag against the declaration and joins a valued option with a value that starts with a minus
 * (`--lr -1` → `--lr=-1`), which node:util's parseArgs would otherwise take for an option.
 */
function normalise(args: readonly string[], options: OptionSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const shortOf = Object.entries(options).find(
      ([, spec]) => spec.short !== undefined && `-${spec.short}` === args[i],
    );
    const arg = args[i] === '-h' ? '--help' : shortOf !== undefined ? `--${shortOf[0]}` : args[i];
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (!arg.startsWith('-') || looksNegative.test(arg)) {
      out.push(arg);
      continue;
    }
    const name = arg.replace(/^--?/, '').split('=')[0];
    const spec = options[name];
    if (spec === undefined || !arg.startsWith('--')) {
      const guess = nearestName(name, Object.keys(options));
      throw new UsageError(
        `unknown option '${arg.split('=')[0]}'${guess ? ` (did you mean --${guess}?)` : ''}`,
      );
    }
    if (
      spec.value !== undefined &&
      !arg.includes('=') &&
      i + 1 < args.length &&
      looksNegative.test(args[i + 1])
    ) {
      out.push(`${arg}=${args[++i]}`);
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** Parses a verb's arguments by its declaration; every parsing failure is a UsageError of one line. */
export function parseCommand<O extends OptionSpecs>(command: Command<O>, args: readonly string[]): Parsed<O> {
  const specs: OptionSpecs = { ...command.options, ...commonOptions };
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      {
        type: spec.value === undefined ? ('boolean' as const) : ('string' as const),
        multiple: spec.multiple === true,
      },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({
      args: normalise(args, specs),
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as OptionValues<O>, positionals, args };
  } catch (error) {
    if (error instanceof UsageError) throw error;
    // parseArgs' messages may span lines ('... argument is ambiguous.\nDid you forget ...'): one line here.
    const code = (error as NodeJS.ErrnoException).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message.split('\n')[0]);
    throw error;
  }
}

/** Extra positional arguments are a usage error, not silently ignored. */
export function refuseArguments(verb: string, positionals: readonly string[]): void {
  if (positionals.length > 0)
    throw new UsageError(`unexpected argument '${positionals[0]}': ${verb} takes no arguments`);
}

/** `convnets <verb> --help`: the synopsis, the description, every option with its default, and examples. */
export function helpText(command: Command): string {
  const specs = { ...command.options, ...commonOptions };
  const flags = Object.entries(specs).map(([name, spec]) => {
    const flag = `--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
    const extra = [
      spec.short === undefined ? '' : `or -${spec.short}`,
      spec.multiple ? 'repeatable' : '',
      spec.default === undefined ? '' : `default: ${spec.default}`,
    ]
      .filter((part) => part !== '')
      .join('; ');
    return [flag, extra === '' ? spec.help : `${spec.help} (${extra})`];
  });
  const width = Math.min(28, Math.max(...flags.map(([flag]) => flag.length)));
  const optionLines = flags.map(([flag, help]) =>
    flag.length > width ? `  ${flag}\n  ${' '.repeat(width)}  ${help}` : `  ${flag.padEnd(width)}  ${help}`,
  );
  return [
    command.synopsis
      .map((form, i) => `${i === 0 ? 'usage:' : '      '} convnets ${command.name} ${form}`.trimEnd())
      .join('\n'),
    '',
    command.summary,
    ...(command.description === undefined ? [] : ['', command.description]),
    '',
    'options:',
    ...optionLines,
    '',
    'examples:',
    ...command.examples.map((example) => `  ${example}`),
  ].join('\n');
}
