// The child process behind isolated.ts: runs one job of reader cases (seeded mutations, or one hostile file) and
// reports each case on stdout, one JSON line when it starts and one when it ends, with the process's peak resident
// set so far. It does nothing unless started by runIsolated (the test runner also loads every file under test/).
import { mkdtempSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { decodeCifarBatch } from '../../src/data/datasets/cifar.js';
import { decodeIdx } from '../../src/data/datasets/idx.js';
import { FormatError } from '../../src/errors.js';
import { decodeNpy, decodePth, decodeSafetensors } from '../../src/io/index.js';
import { ZipArchive } from '../../src/io/pth/zip.js';
import { fixture, seeded, storedZip } from './helpers.js';
import { HOSTILE_FILES } from './hostile.js';
import { mutate } from './mutate.js';

export const WORKER_FLAG = 'CONVNETS_READ_WORKER';

/** Seeded mutations of `seeds`, each fed to every reader named; or the pickles of `seeds` mutated inside archives. */
export interface FuzzJob {
  kind: 'files' | 'pickles';
  seeds: string[];
  readers: ReaderName[];
  mutations: number;
  seed: number;
}

export interface HostileJob {
  kind: 'hostile';
  /** An index into HOSTILE_FILES. */
  file: number;
}

/** A case that misbehaves on purpose, to show the limits catch it: an untyped error, a hang, a crash, a gigabyte. */
export interface MisbehaveJob {
  kind: 'misbehave';
  how: 'throw' | 'hang' | 'crash' | 'allocate';
}

export type Job = FuzzJob | HostileJob | MisbehaveJob;

/** One case's end: its outcome, and the peak resident set of the process so far, in bytes. */
export interface CaseEnd {
  case: number;
  reader: string;
  outcome: 'value' | 'FormatError' | 'error';
  message?: string;
  peakRss: number;
}

const disposeAll = (tensors: Iterable<{ dispose(): void }>): void => {
  for (const t of tensors) t.dispose();
};

const CIFAR10 = { labelBytes: 1, labelIndex: 0, numClasses: 10 } as const;
const CIFAR100 = { labelBytes: 2, labelIndex: 1, numClasses: 100 } as const;

const READERS = {
  npy: (bytes: Uint8Array) => decodeNpy(bytes).dispose(),
  safetensors: (bytes: Uint8Array) => disposeAll(decodeSafetensors(bytes).tensors.values()),
  pth: (bytes: Uint8Array) => disposeAll(decodePth(bytes).values()),
  'idx images': (bytes: Uint8Array) => decodeIdx(bytes, 'fuzz', 3),
  'idx labels': (bytes: Uint8Array) => decodeIdx(bytes, 'fuzz', 1),
  'cifar-10': (bytes: Uint8Array) => decodeCifarBatch(bytes, 'fuzz', CIFAR10),
  'cifar-100': (bytes: Uint8Array) => decodeCifarBatch(bytes, 'fuzz', CIFAR100),
};
export type ReaderName = keyof typeof READERS;

function idx(magic: number, dimensions: number[], values: (i: number) => number): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dimensions.length));
  header.setUint32(0, magic);
  dimensions.forEach((d, i) => header.setUint32(4 + 4 * i, d));
  const count = dimensions.reduce((a, b) => a * b, 1);
  return Buffer.concat([
    new Uint8Array(header.buffer),
    Uint8Array.from({ length: count }, (_, i) => values(i)),
  ]);
}

function cifarRecords(labels: number[][]): Uint8Array {
  return Buffer.concat(
    labels.map((label, r) => Uint8Array.from([...label, ...Array(3072).fill(r * 40 + 7)])),
  );
}

/** Small, valid dataset files, plain and gzipped, to mutate. */
const DATASET_SEEDS: Record<string, () => Uint8Array> = {
  'images.idx': () => idx(0x803, [3, 4, 4], (i) => (i * 37) % 256),
  'labels.idx': () => idx(0x801, [3], (i) => i),
  'images.idx.gz': () => gzipSync(idx(0x803, [3, 4, 4], (i) => (i * 37) % 256)),
  'labels.idx.gz': () => gzipSync(idx(0x801, [3], (i) => i)),
  'cifar-10.bin': () => cifarRecords([[3], [9]]),
  'cifar-10.bin.gz': () => gzipSync(cifarRecords([[3], [9]])),
  'cifar-100.bin': () =>
    cifarRecords([
      [1, 42],
      [19, 99],
    ]),
};

function seedBytes(name: string): Uint8Array {
  return name in DATASET_SEEDS ? new Uint8Array(DATASET_SEEDS[name]()) : fixture(name);
}

/** A well-formed archive (CRCs right) around each mutation of the seed's data.pkl, so the pickle reader sees it. */
function* pickleMutants(name: string, random: () => number, count: number) {
  const archive = new ZipArchive(fixture(name));
  const entries = [...archive.entries.keys()].map((entry): [string, Uint8Array] => [
    entry,
    archive.read(entry),
  ]);
  const pickle = entries.findIndex(([entry]) => entry.endsWith('/data.pkl'));
  for (let m = 0; m < count; m++) {
    const { bytes, how } = mutate(entries[pickle][1], random);
    const mutated = entries.map(([entry, data], i): [string, Uint8Array] => [
      entry,
      i === pickle ? bytes : data,
    ]);
    yield { bytes: storedZip(mutated), how: `data.pkl ${how}` };
  }
}

function* fileMutants(name: string, random: () => number, count: number) {
  const original = seedBytes(name);
  for (let m = 0; m < count; m++) yield mutate(original, random);
}

const emit = (event: object): void => {
  writeSync(1, `${JSON.stringify(event)}\n`);
};

const peakRss = (): number => process.resourceUsage().maxRSS * 1024;

function describeError(error: unknown): Pick<CaseEnd, 'outcome' | 'message'> {
  if (error instanceof FormatError) return { outcome: 'FormatError', message: error.message.slice(0, 400) };
  return {
    outcome: 'error',
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  };
}

function runFuzz(job: FuzzJob): void {
  const random = seeded(job.seed);
  let index = 0;
  for (const name of job.seeds) {
    const mutants = job.kind === 'pickles' ? pickleMutants : fileMutants;
    for (const { bytes, how } of mutants(name, random, job.mutations)) {
      for (const reader of job.readers) {
        emit({ case: index, what: `${name}, ${how}, ${reader}` });
        let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
        try {
          READERS[reader](bytes);
        } catch (error) {
          end = describeError(error);
        }
        // FormatErrors are expected by the thousand: only other errors carry their message.
        if (end.outcome === 'FormatError') delete end.message;
        emit({ case: index, reader, ...end, peakRss: peakRss() });
        index++;
      }
    }
  }
}

async function runHostile(job: HostileJob): Promise<void> {
  const file = HOSTILE_FILES[job.file];
  const dir = mkdtempSync(join(tmpdir(), 'convnets-hostile-'));
  try {
    const path = join(dir, 'file');
    const bytes = file.build();
    writeFileSync(path, bytes);
    emit({ case: 0, what: file.name, size: bytes.length, rssBeforeReading: peakRss() });
    let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
    try {
      await file.read(path);
    } catch (error) {
      end = describeError(error);
    }
    emit({ case: 0, reader: file.name, ...end, peakRss: peakRss() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runMisbehave(job: MisbehaveJob): void {
  emit({ case: 0, what: `misbehave: ${job.how}` });
  let end: Pick<CaseEnd, 'outcome' | 'message'> = { outcome: 'value' };
  try {
    if (job.how === 'throw') throw new TypeError('not a FormatError');
    if (job.how === 'crash') process.kill(process.pid, 'SIGSEGV');
    if (job.how === 'hang') for (;;);
    // Touched memory is resident: 8 × 128 MiB, held until the case ends.
    const held = Array.from({ length: 8 }, () => Buffer.alloc(2 ** 27, 1));
    const wait = Date.now() + 2000;
    while (Date.now() < wait && held.length > 0);
  } catch (error) {
    end = describeError(error);
  }
  emit({ case: 0, reader: 'misbehave', ...end, peakRss: peakRss() });
}

if (process.env[WORKER_FLAG] === '1') {
  const job = JSON.parse(process.argv[2]) as Job;
  if (job.kind === 'hostile') await runHostile(job);
  else if (job.kind === 'misbehave') runMisbehave(job);
  else runFuzz(job);
  emit({ done: true });
}
