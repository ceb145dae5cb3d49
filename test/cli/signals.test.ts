import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abortOnSignals, commandLine, signalExitCode } from '../../src/cli/signals.js';

test('the first SIGINT or SIGTERM aborts the signal and gives both back to their default action', () => {
  const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
  const names: string[] = [];
  const stop = abortOnSignals((name) => names.push(name));
  assert.deepEqual(
    [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')],
    [before[0] + 1, before[1] + 1],
  );
  assert.equal(stop.signal.aborted, false);
  process.emit('SIGTERM', 'SIGTERM');
  assert.equal(stop.signal.aborted, true);
  assert.equal(stop.signal.reason, 'SIGTERM');
  assert.deepEqual(names, ['SIGTERM']);
  // A second signal now meets Node's default action (the process ends at once), not this handler.
  assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
  stop.dispose();
});

test('exit status 128 + the signal number, as shells report; the command line quotes what a shell would split', () => {
  assert.equal(signalExitCode('SIGINT'), 130);
  assert.equal(signalExitCode('SIGTERM'), 143);
  assert.match(
    commandLine(['train', 'lenet5', '--out', "my runs/it's", '--resume']),
    / train lenet5 --out 'my runs\/it'\\''s' --resume$/,
  );
});
