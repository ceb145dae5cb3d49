import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../src/errors.js';
import { decodeNpy, decodePth, decodeSafetensors } from '../../src/io/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { ZipArchive } from '../../src/io/pth/zip.js';
import { fixture, seeded, storedZip } from './helpers.js';

/**
 * Seeded mutations of every fixture, fed to every reader: each outcome must be a result or a FormatError — never
 * another error, a crash or a hang (the test's timeout bounds the whole run; every reader's loops are bounded by
 * the input's size).
 */

const FIXTURES = [
  'sequential.pth',
  'sequential-legacy.pth',
  'sequential-protocol4.pth',
  'sequential-deflated.pth',
  'mixed.pth',
  'mixed.safetensors',
  'sequential.safetensors',
  'float32.npy',
  'int64.npy',
  'float32-v3.npy',
];
// A longer run, for hunting rather than CI: CONVNETS_FUZZ_MUTATIONS=20000 CONVNETS_FUZZ_SEED=7 node --test ….
const MUTATIONS_PER_FIXTURE = Number(process.env.CONVNETS_FUZZ_MUTATIONS ?? 400);
const SEED = Number(process.env.CONVNETS_FUZZ_SEED ?? 20240601);

const READERS: [string, (bytes: Uint8Array) => Tensor[]][] = [
  ['pth', (bytes) => [...decodePth(bytes).values()]],
  ['safetensors', (bytes) => [...decodeSafetensors(bytes).tensors.values()]],
  ['npy', (bytes) => [decodeNpy(bytes)]],
];

/** Values that make lengths and offsets lie: zero, one past, the largest, negative as signed. */
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

function mutate(bytes: Uint8Array, random: () => number): { bytes: Uint8Array; how: string } {
  const at = (n = bytes.length) => Math.floor(random() * n);
  const kind = at(7);
  const out = bytes.slice();
  switch (kind) {
    case 0: {
      const flips = 1 + at(4);
      for (let i = 0; i < flips; i++) out[at()] ^= 1 << at(8);
      return { bytes: out, how: `${flips} bit flips` };
    }
    case 1: {
      const i = at();
      out[i] = at(256);
      return { bytes: out, how: `byte ${i} set` };
    }
    case 2: {
      const cut = at();
      return { bytes: bytes.slice(0, cut), how: `cut at ${cut}` };
    }
    case 3: {
      const i = at(bytes.length + 1);
      const inserted = Uint8Array.from({ length: 1 + at(16) }, () => at(256));
      const grown = new Uint8Array(bytes.length + inserted.length);
      grown.set(bytes.subarray(0, i));
      grown.set(inserted, i);
      grown.set(bytes.subarray(i), i + inserted.length);
      return { bytes: grown, how: `${inserted.length} bytes inserted at ${i}` };
    }
    case 4: {
      const i = at();
      const n = 1 + at(32);
      return {
        bytes: new Uint8Array([...bytes.subarray(0, i), ...bytes.subarray(i + n)]),
        how: `${n} bytes deleted at ${i}`,
      };
    }
    case 5: {
      const i = at(Math.max(bytes.length - 4, 1));
      const value = INTERESTING_U32[at(INTERESTING_U32.length)];
      new DataView(out.buffer).setUint32(Math.min(i, Math.max(out.length - 4, 0)), value, true);
      return { bytes: out, how: `u32 at ${i} set to ${value}` };
    }
    default: {
      const i = at();
      const j = at();
      const n = 1 + at(64);
      out.set(bytes.subarray(j, j + n).subarray(0, Math.max(0, out.length - i)), i);
      return { bytes: out, how: `${n} bytes copied from ${j} to ${i}` };
    }
  }
}

test(
  'thousands of mutated files give a result or a FormatError, never another error',
  { timeout: 120_000 },
  () => {
    const random = seeded(SEED);
    const outcomes = { decoded: 0, refused: 0 };
    const failures: string[] = [];
    for (const name of FIXTURES) {
      const original = fixture(name);
      for (let m = 0; m < MUTATIONS_PER_FIXTURE; m++) {
        const { bytes, how } = mutate(original, random);
        for (const [reader, read] of READERS) {
          try {
            for (const t of read(bytes)) t.dispose();
            outcomes.decoded++;
          } catch (error) {
            if (error instanceof FormatError) outcomes.refused++;
            else failures.push(`${name}, mutation ${m} (${how}), ${reader}: ${String(error)}`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
    const total = FIXTURES.length * MUTATIONS_PER_FIXTURE * READERS.length;
    assert.equal(outcomes.decoded + outcomes.refused, total);
    // Both outcomes occur: some mutations (a flipped value byte) still read, most are refused.
    assert.ok(outcomes.decoded > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
  },
);

test(
  'mutated pickles inside well-formed archives (their CRCs right) give a result or a FormatError',
  { timeout: 120_000 },
  () => {
    // The zip's CRC-32 check refuses most mutations of data.pkl before the pickle reader sees them; here it sees them.
    const random = seeded(SEED + 1);
    const outcomes = { decoded: 0, refused: 0 };
    const failures: string[] = [];
    for (const name of ['sequential.pth', 'sequential-protocol4.pth', 'mixed.pth']) {
      const archive = new ZipArchive(fixture(name));
      const entries = [...archive.entries.keys()].map((entry): [string, Uint8Array] => [
        entry,
        archive.read(entry),
      ]);
      const pickleIndex = entries.findIndex(([entry]) => entry.endsWith('/data.pkl'));
      for (let m = 0; m < MUTATIONS_PER_FIXTURE; m++) {
        const { bytes, how } = mutate(entries[pickleIndex][1], random);
        const mutated = entries.map(([entry, data], i): [string, Uint8Array] => [
          entry,
          i === pickleIndex ? bytes : data,
        ]);
        try {
          for (const t of decodePth(storedZip(mutated)).values()) t.dispose();
          outcomes.decoded++;
        } catch (error) {
          if (error instanceof FormatError) outcomes.refused++;
          else failures.push(`${name}, pickle mutation ${m} (${how}): ${String(error)}`);
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(outcomes.decoded > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
  },
);
