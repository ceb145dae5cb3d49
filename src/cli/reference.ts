/** docs/cli.md as the verbs declare themselves: a list of verbs, then each verb's --help. */
import { helpText } from './command.js';
import { commands } from './commands.js';

export function cliReference(): string {
  return [
    '# The `convnets` command',
    '',
    '<!-- Written by scripts/cli-reference.mjs from each verb’s declaration (src/cli/); do not edit by hand. -->',
    '',
    'Every verb prints this with `convnets <verb> --help` (or `convnets help <verb>`). Errors are one line on stderr;',
    '`--debug` (or `CONVNETS_DEBUG=1`) adds the stack trace. Exit status: 0 done, 1 failed, 2 a command line to change.',
    '`eval "$(convnets completion bash)"` completes verbs, options and file names.',
    '',
    '| verb | what it does |',
    '| --- | --- |',
    ...commands.map((command) => `| [\`${command.name}\`](#${command.name}) | ${command.summary} |`),
    '',
    ...commands.flatMap((command) => [`## ${command.name}`, '', '```text', helpText(command), '```', '']),
  ].join('\n');
}
