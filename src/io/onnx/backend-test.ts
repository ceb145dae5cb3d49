/**
 * ONNX backend-test cases on disk: a directory with model.onnx and test_data_set_N/ folders of input_K.pb and
 * output_K.pb (serialised TensorProtos), the layout of ONNX's own operator tests (onnx/backend/test/data/node). The
 * graph runtime runs them (graph/backend-test.ts); this reads them.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ValueError } from '../../errors.js';
import {
  onnxTolerance,
  runBackendTestCases,
  runCase as runTestCase,
  type BackendTestCase,
  type BackendTestSummary,
  type CaseResult,
  type Tolerance,
} from '../../graph/backend-test.js';
import { decodeModelProto, decodeTensorProto } from './proto.js';
import { decodeTensorData, type OnnxArray } from './tensor-data.js';
import { checkOptions } from '../../options.js';

/** Case directories under each path: the path itself when it holds model.onnx, else its sub-directories that do. */
export async function findCases(paths: readonly string[]): Promise<string[]> {
  const cases: string[] = [];
  for (const path of paths) {
    if (await isFile(join(path, 'model.onnx'))) {
      cases.push(path);
      continue;
    }
    const listing = await readdir(path, { withFileTypes: true }).catch(() => {
      throw new ValueError(`${path}: not a directory holding model.onnx or case directories`);
    });
    const entries = listing.filter((e) => e.isDirectory());
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const dir = join(path, entry.name);
      if (await isFile(join(dir, 'model.onnx'))) cases.push(dir);
    }
  }
  return cases;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Entries named prefix + number, in numeric order. */
async function numbered(dir: string, prefix: string, suffix = ''): Promise<string[]> {
  const pattern = new RegExp(`^${prefix}(\\d+)${suffix.replace('.', '\\.')}$`);
  const names = (await readdir(dir)).filter((n) => pattern.test(n));
  return names
    .sort((a, b) => Number(pattern.exec(a)![1]) - Number(pattern.exec(b)![1]))
    .map((n) => join(dir, n));
}

const bytesOf = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);

async function readArray(path: string): Promise<OnnxArray> {
  const proto = decodeTensorProto(bytesOf(await readFile(path)));
  return decodeTensorData(proto, basename(path));
}

/** The case in a directory, its files read when the runner asks for them. */
export function caseInDirectory(dir: string): BackendTestCase {
  return {
    name: basename(dir),
    dir,
    model: async () => decodeModelProto(bytesOf(await readFile(join(dir, 'model.onnx')))),
    dataSets: async () =>
      (await numbered(dir, 'test_data_set_')).map((set) => ({
        name: basename(set),
        inputs: async () => Promise.all((await numbered(set, 'input_', '.pb')).map(readArray)),
        outputs: async () => Promise.all((await numbered(set, 'output_', '.pb')).map(readArray)),
      })),
  };
}

/** Runs one case directory. */
export async function runCase(dir: string, tolerance: Tolerance = onnxTolerance): Promise<CaseResult> {
  return runTestCase(caseInDirectory(dir), tolerance);
}

/** Runs every case under the given paths, reporting each result as it comes. */
export async function runBackendTests(
  paths: readonly string[],
  options: { tolerance?: Tolerance; onResult?: (result: CaseResult) => void } = {},
): Promise<BackendTestSummary> {
  checkOptions('io.runBackendTests', options, { tolerance: true, onResult: true });
  return runBackendTestCases((await findCases(paths)).map(caseInDirectory), options);
}
