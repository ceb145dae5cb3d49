/** Every verb's --help, `convnets help`, completion, and how errors reach the user (one line, or a stack with --debug). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commands } from '../../src/cli/commands.js';
import { assertUsageFailure, cli } from './helpers.js';

test('every verb has --help with each of its options, their defaults, and examples; help <verb> says the same', () => {
  const top = cli(['--help']);
  assert.equal(top.status, 0);
  for (const command of commands) {
    assert.match(top.stdout, new RegExp(`^  ${command.name}\\s+${command.summary.slice(0, 20)}`, 'm'));
    const result = cli([command.name, '--help']);
    assert.equal(result.status, 0, `${command.name} --help: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^usage: convnets ${command.name}\\b`));
    for (const [name, spec] of Object.entries(command.options)) {
      const line = result.stdout.split('\n').find((l) => l.trimStart().startsWith(`--${name}`)) ?? '';
      assert.notEqual(line, '', `${command.name} --help lists --${name}`);
      if (spec.default !== undefined) assert.ok(result.stdout.includes(`default: ${spec.default}`));
    }
    assert.ok(command.examples.length > 0, `${command.name} has an example`);
    for (const example of command.examples) assert.ok(result.stdout.includes(example));
    assert.equal(cli(['help', command.name]).stdout, result.stdout);
    assert.equal(cli([command.name, '-h']).stdout, result.stdout);
  }
});

test('unknown verbs and options name the nearest known one; exit status 2', () => {
  assertUsageFailure(
    ['trian'],
    /unknown command 'trian' \(did you mean train\?\); convnets --help lists them$/,
  );
  assertUsageFailure(
    ['train', 'lenet5', '--data', 'fashion-mnist', '--epoch', '2'],
    /unknown option '--epoch' \(did you mean --epochs\?\)$/,
  );
  assertUsageFailure(['eval', 'runs/x', '-x'], /unknown option '-x'$/);
});

test('--debug and CONVNETS_DEBUG=1 show the stack trace that is otherwise kept back', () => {
  const plain = cli(['predict', '/no/such/run', 'x.png']);
  assert.equal(plain.status, 1);
  assert.doesNotMatch(plain.stderr, /\n\s+at /);
  const debug = cli(['predict', '/no/such/run', 'x.png', '--debug']);
  assert.equal(debug.status, 1);
  assert.match(debug.stderr, /no such file or directory[\s\S]*\n\s+at /);
  const viaEnvironment = cli(['predict', '/no/such/run', 'x.png'], undefined, { CONVNETS_DEBUG: '1' });
  assert.match(viaEnvironment.stderr, /\n\s+at /);
});

test('completion prints a bash script that names every verb and its options; zsh loads it through bashcompinit', () => {
  const bash = cli(['completion', 'bash']);
  assert.equal(bash.status, 0);
  for (const command of commands) {
    assert.match(bash.stdout, new RegExp(`\\b${command.name}\\b`));
    for (const name of Object.keys(command.options))
      assert.ok(bash.stdout.includes(`--${name}`), `--${name}`);
  }
  assert.match(bash.stdout, /complete -o filenames -F _convnets convnets/);
  assert.match(cli(['completion', 'zsh']).stdout, /^autoload -U \+X bashcompinit && bashcompinit\n/);
  assertUsageFailure(['completion', 'fish'], /unknown shell 'fish': bash or zsh$/);
});
