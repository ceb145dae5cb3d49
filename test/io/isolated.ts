import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CaseEnd, type Job, type Outcome, WORKER_FLAG } from './read-worker.js';

/**
 * Runs reader cases (and ONNX models, imported and run once) in a child process (read-worker.ts) with a memory and a
 * time limit on each case, so that a reader that hangs, crashes or allocates gigabytes fails the test naming the case
 * instead of taking the test runner (or the machine) down with it.
 */

export interface Limits {
  /** A case still running after this long is killed and reported. Generous: the machine is shared. */
  caseMs: number;
  /** Resident memory the child may reach; watched while a case runs (on Linux) and checked after each. */
  rssBytes: number;
}

export const DEFAULT_LIMITS: Limits = { caseMs: 20_000, rssBytes: 1e9 };

/** How many cases ended in each outcome a job accepts. */
export type Counts = Partial<Record<Exclude<Outcome, 'error'>, number>>;

export interface Report {
  /** Per reader, how many cases gave a value and how many each typed error the job accepts. */
  outcomes: Map<string, Counts>;
  /** Every case that ended otherwise: another error, a crash, a hang, too much memory. */
  failures: string[];
  /** The child's peak resident set, in bytes. */
  peakRss: number;
  /** Each case's end, for jobs of one case (hostile files and models). */
  ends: CaseEnd[];
  /** The size of the file built, and the peak resident set before it was read, for hostile files. */
  started: { size?: number; rssBeforeReading?: number }[];
}

const WORKER = fileURLToPath(new URL('./read-worker.js', import.meta.url));
const MiB = 2 ** 20;

/** The child's resident set from /proc, or null where there is no /proc. */
function residentBytes(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

export function runIsolated(job: Job, limits: Limits = DEFAULT_LIMITS): Promise<Report> {
  const report: Report = { outcomes: new Map(), failures: [], peakRss: 0, ends: [], started: [] };
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${Math.round(limits.rssBytes / MiB)}`, WORKER, JSON.stringify(job)],
    {
      env: { ...process.env, [WORKER_FLAG]: '1', CONVNETS_BACKEND: 'reference' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let current = 'before the first case';
  let done = false;
  let stopped: string | null = null;
  const stop = (why: string): void => {
    if (stopped !== null) return;
    stopped = why;
    report.failures.push(why);
    child.kill('SIGKILL');
  };
  let timer = setTimeout(() => stop(`${current}: still running after ${limits.caseMs} ms`), limits.caseMs);
  const memoryWatch = setInterval(() => {
    const rss = child.pid === undefined ? null : residentBytes(child.pid);
    if (rss !== null && rss > limits.rssBytes)
      stop(`${current}: ${Math.round(rss / MiB)} MiB resident, past the limit`);
  }, 50);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const event = JSON.parse(line);
      clearTimeout(timer);
      timer = setTimeout(() => stop(`${current}: still running after ${limits.caseMs} ms`), limits.caseMs);
      if (event.done) done = true;
      else if ('what' in event) {
        current = `case ${event.case} (${event.what})`;
        report.started.push({ size: event.size, rssBeforeReading: event.rssBeforeReading });
      } else {
        const end = event as CaseEnd;
        report.peakRss = Math.max(report.peakRss, end.peakRss);
        if (job.kind === 'hostile' || job.kind === 'onnx-hostile') report.ends.push(end);
        if (end.outcome === 'error') report.failures.push(`${current}: ${end.message}`);
        else {
          const counts = report.outcomes.get(end.reader) ?? {};
          counts[end.outcome] = (counts[end.outcome] ?? 0) + 1;
          report.outcomes.set(end.reader, counts);
        }
        if (end.peakRss > limits.rssBytes) {
          stop(`${current}: peak resident set ${Math.round(end.peakRss / MiB)} MiB, past the limit`);
        }
      }
    }
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(memoryWatch);
      if (!done && stopped === null) {
        report.failures.push(
          `${current}: the child ended (${signal ?? `exit ${code}`}): ${stderr.trim().slice(-600)}`,
        );
      }
      resolve(report);
    });
  });
}

// A longer run, for hunting rather than CI: CONVNETS_FUZZ_MUTATIONS=20000 CONVNETS_FUZZ_SEED=7 node --test ….
export const MUTATIONS_PER_FIXTURE = Number(process.env.CONVNETS_FUZZ_MUTATIONS ?? 400);
export const SEED = Number(process.env.CONVNETS_FUZZ_SEED ?? 20240601);

/** No failures; per reader, every case accounted for, and both outcomes seen (some mutations still read). */
export function assertClean(report: Report, readers: string[], casesPerReader: number): void {
  assert.deepEqual(report.failures, []);
  for (const reader of readers) {
    const counts = report.outcomes.get(reader);
    assert.ok(counts !== undefined, `${reader}: no cases ran`);
    const { value = 0, FormatError = 0 } = counts;
    assert.equal(value + FormatError, casesPerReader, reader);
    assert.ok(value > 0 && FormatError > 0, `${reader}: ${JSON.stringify(counts)}`);
  }
}
