/**
 * Runs ONNX backend-test cases: a model and data sets of inputs with the outputs they must give, the layout of
 * ONNX's own operator tests (onnx/backend/test/data/node; io/onnx reads them from their directories). A case passes
 * when every output matches within ONNX's backend-test tolerance, |actual − expected| ≤ atol + rtol·|expected|
 * (rtol 1e-3, atol 1e-7, as onnx.backend.test's default), integers exactly; it is skipped when the model needs
 * something convnets does not run (the reason says what), and fails otherwise.
 */
import { ConvnetsError } from '../errors.js';
import { Tensor, noGrad, scope } from '../tensor/index.js';
import { OnnxModel } from './model.js';
import type { ModelProto, OnnxArray } from './onnx-ir.js';
import { IntValues, OnnxUnsupportedError, arrayToValue, type Value } from './values.js';
import { checkOptions } from '../options.js';

/** How close an output must be to the expected one: |actual − expected| ≤ atol + rtol·|expected|. */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/** The tolerance ONNX's own backend tests use. */
export const onnxTolerance: Tolerance = { rtol: 1e-3, atol: 1e-7 };

export type CaseStatus = 'passed' | 'failed' | 'skipped';

/** The outcome of one backend test: passed, failed (with why) or skipped (with why). */
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

/** Every case's result, and how many passed, failed and were skipped. */
export interface BackendTestSummary {
  results: CaseResult[];
  passed: number;
  failed: number;
  skipped: number;
}

/** One case: its model and data sets, read when the runner asks for them. */
export interface BackendTestCase {
  name: string;
  /** Where it was found, for reports. */
  dir: string;
  /** The model the case runs. */
  model(): Promise<ModelProto>;
  /** The test's input and expected output tensors, one set per test_data_set_N folder. */
  dataSets(): Promise<BackendTestDataSet[]>;
}

/** One data set of a backend test: its inputs and the outputs expected. */
export interface BackendTestDataSet {
  name: string;
  /** The inputs, in the graph's input order. */
  inputs(): Promise<OnnxArray[]>;
  /** The outputs the model must give, in the order of the graph's outputs. */
  outputs(): Promise<OnnxArray[]>;
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

/** Runs one case. */
export async function runCase(
  testCase: BackendTestCase,
  tolerance: Tolerance = onnxTolerance,
): Promise<CaseResult> {
  const result: CaseResult = {
    name: testCase.name,
    dir: testCase.dir,
    status: 'passed',
    maxAbsError: 0,
    maxRelError: 0,
    dataSets: 0,
  };
  const outcome = (status: CaseStatus, reason: string): CaseResult => ({ ...result, status, reason });
  let model: OnnxModel | null = null;
  try {
    model = new OnnxModel(await testCase.model());
    for (const set of await testCase.dataSets()) {
      const inputs = await set.inputs();
      const expected = await set.outputs();
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
            if (!c.ok) return `${set.name} output ${k} ('${name}'): ${c.detail}`;
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

/** Runs every case, reporting each result as it comes. */
export async function runBackendTestCases(
  cases: readonly BackendTestCase[],
  options: { tolerance?: Tolerance; onResult?: (result: CaseResult) => void } = {},
): Promise<BackendTestSummary> {
  checkOptions('graph.runBackendTestCases', options, { tolerance: true, onResult: true });
  const results: CaseResult[] = [];
  for (const testCase of cases) {
    const result = await runCase(testCase, options.tolerance ?? onnxTolerance);
    options.onResult?.(result);
    results.push(result);
  }
  const count = (status: CaseStatus) => results.filter((r) => r.status === status).length;
  return { results, passed: count('passed'), failed: count('failed'), skipped: count('skipped') };
}
