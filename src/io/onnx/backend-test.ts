/**
 * Runs ONNX backend-test cases: a directory with model.onnx and test_data_set_N/ folders of input_K.pb and
 * output_K.pb (serialised TensorProtos), the layout of ONNX's own operator tests (onnx/backend/test/data/node).
 * A case passes when every output matches within ONNX's backend-test tolerance, |actual − expected| ≤ atol +
 * rtol·|expected| (rtol 1e-3, atol 1e-7, as onnx.backend.test's default), integers exactly; it is skipped when the
 * model needs something convnets does not run (the reason says what), and fails otherwise.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConvnetsError, ValueError } from '../../errors.js';
import { Tensor, noGrad, scope } from '../../tensor/index.js';
import { decodeOnnx, type OnnxModel } from './model.js';
import { decodeTensorProto } from './proto.js';
import { decodeTensorData, type OnnxArray } from './tensor-data.js';
import { IntValues, OnnxUnsupportedError, arrayToValue, type Value } from './values.js';

export interface Tolerance {
  rtol: number;
  atol: number;
}

export const onnxTolerance: Tolerance = { rtol: 1e-3, atol: 1e-7 };

export type CaseStatus = 'passed' | 'failed' | 'skipped';

export interface CaseResult {
  name: string;
  dir: string;
  status: CaseStatus;
  /** Why a case failed or was skipped. */
  reason?: string;
  /** A skip's short reason, for tallies ('ops: Resize', 'MaxPool attribute dilations'). */
  tag?: string;
  /** Largest |actual − expected| and |actual − expected| / |expected| over every output of every data set. */
  maxAbsError: number;
  maxRelError: number;
  dataSets: number;
}

export interface BackendTestSummary {
  results: CaseResult[];
  passed: number;
  failed: number;
  skipped: number;
}

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

async function readArray(path: string): Promise<OnnxArray> {
  const bytes = await readFile(path);
  const proto = decodeTensorProto(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return decodeTensorData(proto, basename(path));
}

interface Comparison {
  ok: boolean;
  maxAbs: number;
  maxRel: number;
  detail?: string;
}

/** Compares one output; NaN matches NaN and infinities must match exactly. */
export function compareOutput(actual: Value, expected: OnnxArray, tolerance: Tolerance): Comparison {
  const shapeOk =
    actual.shape.length === expected.dims.length && actual.shape.every((d, i) => d === expected.dims[i]);
  if (!shapeOk) {
    return {
      ok: false,
      maxAbs: NaN,
      maxRel: NaN,
      detail: `shape [${actual.shape.join(', ')}], expected [${expected.dims.join(', ')}]`,
    };
  }
  if (expected.kind === 'int') {
    const values = actual instanceof IntValues ? actual.values : Array.from(actual.data());
    const bad = values.findIndex((v, i) => v !== expected.values[i]);
    const maxAbs = values.reduce((m, v, i) => Math.max(m, Math.abs(v - expected.values[i])), 0);
    return bad < 0
      ? { ok: true, maxAbs, maxRel: 0 }
      : {
          ok: false,
          maxAbs,
          maxRel: NaN,
          detail: `value ${values[bad]} at ${bad}, expected ${expected.values[bad]}`,
        };
  }
  if (!(actual instanceof Tensor) || actual.dtype !== 'float32') {
    return { ok: false, maxAbs: NaN, maxRel: NaN, detail: 'integer output, expected floats' };
  }
  const values = actual.data();
  let maxAbs = 0;
  let maxRel = 0;
  let firstBad = -1;
  for (let i = 0; i < values.length; i++) {
    const a = values[i];
    const e = expected.values[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e)) && firstBad < 0) firstBad = i;
      continue;
    }
    const error = Math.abs(a - e);
    if (Number.isNaN(error) || error > tolerance.atol + tolerance.rtol * Math.abs(e)) {
      if (firstBad < 0) firstBad = i;
    }
    if (!Number.isNaN(error)) {
      maxAbs = Math.max(maxAbs, error);
      if (e !== 0) maxRel = Math.max(maxRel, error / Math.abs(e));
    }
  }
  return firstBad < 0
    ? { ok: true, maxAbs, maxRel }
    : {
        ok: false,
        maxAbs,
        maxRel,
        detail: `value ${values[firstBad]} at ${firstBad}, expected ${expected.values[firstBad]}`,
      };
}

/** Runs one case directory. */
export async function runCase(dir: string, tolerance: Tolerance = onnxTolerance): Promise<CaseResult> {
  const result: CaseResult = {
    name: basename(dir),
    dir,
    status: 'passed',
    maxAbsError: 0,
    maxRelError: 0,
    dataSets: 0,
  };
  const outcome = (status: CaseStatus, reason: string): CaseResult => ({ ...result, status, reason });
  let model: OnnxModel | null = null;
  try {
    const bytes = await readFile(join(dir, 'model.onnx'));
    model = decodeOnnx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const dataSets = await numbered(dir, 'test_data_set_');
    for (const set of dataSets) {
      const inputs = await Promise.all((await numbered(set, 'input_', '.pb')).map(readArray));
      const expected = await Promise.all((await numbered(set, 'output_', '.pb')).map(readArray));
      const current = model;
      const failure = noGrad(() =>
        scope(() => {
          const outputs = current.run(inputs.map(arrayToValue));
          for (const [k, wanted] of expected.entries()) {
            const name = current.outputs[k]?.name;
            const actual = name === undefined ? undefined : outputs.get(name);
            if (actual === undefined) return `output ${k} is missing`;
            const c = compareOutput(actual, wanted, tolerance);
            result.maxAbsError = Math.max(result.maxAbsError, c.maxAbs);
            result.maxRelError = Math.max(result.maxRelError, c.maxRel);
            if (!c.ok) return `${basename(set)} output ${k} ('${name}'): ${c.detail}`;
          }
          return null;
        }),
      );
      result.dataSets++;
      if (failure !== null) return outcome('failed', failure);
    }
    if (result.dataSets === 0) return outcome('skipped', 'no test_data_set_N directories');
    return result;
  } catch (error) {
    if (error instanceof OnnxUnsupportedError)
      return { ...outcome('skipped', error.message), tag: error.reason };
    if (error instanceof ConvnetsError || error instanceof Error)
      return outcome('failed', `${error.name}: ${error.message}`);
    return outcome('failed', String(error));
  } finally {
    for (const t of [...(model?.parameters() ?? []), ...(model?.buffers() ?? [])]) t.dispose();
  }
}

/** Runs every case under the given paths, reporting each result as it comes. */
export async function runBackendTests(
  paths: readonly string[],
  options: { tolerance?: Tolerance; onResult?: (result: CaseResult) => void } = {},
): Promise<BackendTestSummary> {
  const results: CaseResult[] = [];
  for (const dir of await findCases(paths)) {
    const result = await runCase(dir, options.tolerance ?? onnxTolerance);
    options.onResult?.(result);
    results.push(result);
  }
  const count = (status: CaseStatus) => results.filter((r) => r.status === status).length;
  return { results, passed: count('passed'), failed: count('failed'), skipped: count('skipped') };
}
