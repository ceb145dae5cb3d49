import { getBackend, setBackend } from '../backend/registry.js';
import { ConvnetsError, ValueError } from '../errors.js';
import { type CaseResult, onnxTolerance, runBackendTests } from '../io/onnx/index.js';
import { UsageError, defineCommand, type Parsed } from './command.js';

const options = {
  backend: {
    value: 'reference|native',
    help: 'the backend that runs the cases',
    default: 'CONVNETS_BACKEND or the fastest',
  },
  rtol: { value: 'X', help: 'relative tolerance', default: String(onnxTolerance.rtol) },
  atol: { value: 'X', help: 'absolute tolerance', default: String(onnxTolerance.atol) },
  quiet: { help: 'print only failed cases and the tally' },
};

export const onnxCommand = defineCommand({
  name: 'onnx',
  summary: 'runs ONNX backend-test cases: pass or fail per case',
  synopsis: ['test <dir>... [--backend reference|native] [--rtol X] [--atol X] [--quiet]'],
  description:
    'Runs ONNX backend-test cases (model.onnx with test_data_set_N/input_K.pb and output_K.pb): a case directory or a\n' +
    "directory of them, such as ONNX's data/node (Debian: /usr/share/libonnx-testdata). Exits 1 when a case fails.",
  options,
  examples: ['convnets onnx test /usr/share/libonnx-testdata/data/node --quiet'],
  run: ({ values, positionals }) => {
    const [sub, ...rest] = positionals;
    if (sub === 'test') return runTest({ values, positionals: rest, args: [] });
    throw new UsageError(
      sub === undefined ? 'name a subcommand: test' : `unknown subcommand '${sub}': onnx has test`,
    );
  },
});

function parseTolerance(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0))
    throw new UsageError(`--${name} '${text}' must be a non-negative number`);
  return value;
}

const formatError = (x: number) => (Number.isNaN(x) ? '-' : x.toExponential(2));

function line(result: CaseResult): string {
  const label = { passed: 'PASS', failed: 'FAIL', skipped: 'SKIP' }[result.status];
  if (result.status === 'skipped') return `${label} ${result.name}: ${result.reason}`;
  const errors = `max abs ${formatError(result.maxAbsError)}, max rel ${formatError(result.maxRelError)}`;
  return result.status === 'passed'
    ? `${label} ${result.name} (${errors})`
    : `${label} ${result.name}: ${result.reason} (${errors})`;
}

/**
 * `convnets onnx test <dir>...`: runs ONNX backend-test cases (model.onnx + test_data_set_N/input_K.pb,
 * output_K.pb), a case directory or a directory of them such as ONNX's data/node. Prints one line per case, the
 * skip reasons tallied, and last `N passed, N failed, N skipped`; exits non-zero when any case failed.
 */
async function runTest({ values, positionals }: Parsed<typeof options>): Promise<void> {
  if (positionals.length === 0) throw new UsageError('name at least one directory of test cases');
  if (typeof values.backend === 'string') setBackend(values.backend);
  const tolerance = {
    rtol: parseTolerance(values.rtol, onnxTolerance.rtol, 'rtol'),
    atol: parseTolerance(values.atol, onnxTolerance.atol, 'atol'),
  };
  console.log(`backend ${getBackend().name}, tolerance |a − e| ≤ ${tolerance.atol} + ${tolerance.rtol}·|e|`);
  const summary = await runBackendTests(positionals, {
    tolerance,
    onResult: (result) => {
      if (!values.quiet || result.status === 'failed') console.log(line(result));
    },
  });
  if (summary.results.length === 0)
    throw new ValueError(`no ONNX test cases (model.onnx with test_data_set_*) in ${positionals.join(', ')}`);
  const tally = new Map<string, number>();
  for (const r of summary.results) {
    const key = r.tag ?? r.reason ?? '';
    if (r.status === 'skipped') tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  if (tally.size > 0) {
    console.log('\nskipped, by reason:');
    for (const [reason, count] of [...tally].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
      console.log(`  ${String(count).padStart(4)}  ${reason}`);
    }
  }
  console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  // main() turns a thrown ConvnetsError into exit status 1, after the summary line above.
  if (summary.failed > 0)
    throw new ConvnetsError(`${summary.failed} of ${summary.results.length} cases failed`);
}
