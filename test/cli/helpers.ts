/** Running the CLI as a user does, in a child process, and checking how it fails. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const cliMain = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Runs a CLI (this checkout's unless `main` names another); one that spins instead of failing is stopped after 60 s. */
export function cli(args: readonly string[], main = cliMain, environment: Record<string, string> = {}) {
  return spawnSync(process.execPath, [main, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CONVNETS_BACKEND: 'reference', ...environment },
  });
}

/** The failure is exit status 1 and one line on stderr, `convnets <verb>: <message>`, without a stack trace. */
export function assertOneLineFailure(args: readonly string[], message: RegExp, main = cliMain): void {
  assertFailure(args, message, 1, main);
}

/**
 * A command line to change: exit status 2 and one line, `convnets <verb>: <message>; see convnets <verb> --help`
 * (`message` is matched without the pointer to help).
 */
export function assertUsageFailure(args: readonly string[], message: RegExp): void {
  assertFailure(args, message, 2, cliMain);
}

function assertFailure(args: readonly string[], message: RegExp, status: number, main: string): void {
  const result = cli(args, main);
  const what = args.join(' ');
  assert.equal(
    result.status,
    status,
    `${what}: status ${result.status} (signal ${result.signal}): ${result.stderr}`,
  );
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${result.stderr}`);
  const line = status === 2 ? lines[0].replace(/; see convnets \S+ --help$/, '') : lines[0];
  assert.match(line, new RegExp(`^convnets ${args[0]}: ${message.source}`), what);
}

export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'convnets-cli-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
