import { constants } from 'node:os';
import { basename, isAbsolute, relative } from 'node:path';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * SIGINT and SIGTERM as an AbortSignal. The first one aborts it and hands both signals back to their default
 * action, so a second Ctrl-C ends the process at once, even in the middle of a step.
 */
export function abortOnSignals(onFirst?: (name: NodeJS.Signals) => void): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  const dispose = () => {
    for (const name of STOP_SIGNALS) process.off(name, stop);
  };
  function stop(name: NodeJS.Signals): void {
    dispose();
    controller.abort(name);
    onFirst?.(name);
  }
  for (const name of STOP_SIGNALS) process.on(name, stop);
  return { signal: controller.signal, dispose };
}

/** What shells report for a process a signal ended: 128 + its number (130 for SIGINT, 143 for SIGTERM). */
export function signalExitCode(name: unknown): number {
  const number = constants.signals[name as NodeJS.Signals];
  return number === undefined ? 1 : 128 + number;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command line that runs this CLI with `args`, as the user invoked it (`convnets` or `node path/main.js`). */
export function commandLine(args: readonly string[]): string {
  const script = process.argv[1] ?? 'convnets';
  const fromHere = relative(process.cwd(), script);
  const program =
    basename(script) === 'convnets'
      ? ['convnets']
      : ['node', fromHere.startsWith('..') || isAbsolute(fromHere) ? script : fromHere];
  return [...program, ...args].map(shellQuote).join(' ');
}
