/**
 * `convnets completion bash|zsh`: a script that completes verbs, their options and file names. zsh runs the bash
 * script through bashcompinit, so there is one script to keep true.
 */
import { UsageError, commonOptions, defineCommand, type Command } from './command.js';

function bashScript(commands: readonly Command[]): string {
  const cases = commands.map((command) => {
    const flags = Object.keys({ ...command.options, ...commonOptions }).map((name) => `--${name}`);
    return `    ${command.name}) flags="${flags.join(' ')}" ;;`;
  });
  return [
    '# convnets completion for bash: eval "$(convnets completion bash)" (or save it to ~/.bash_completion)',
    '_convnets() {',
    '  local current=${COMP_WORDS[COMP_CWORD]} flags',
    '  if [ "$COMP_CWORD" -eq 1 ]; then',
    `    COMPREPLY=($(compgen -W "${commands.map((command) => command.name).join(' ')} help" -- "$current"))`,
    '    return',
    '  fi',
    '  case ${COMP_WORDS[1]} in',
    ...cases,
    '    *) flags="" ;;',
    '  esac',
    '  if [[ $current == -* ]]; then',
    '    COMPREPLY=($(compgen -W "$flags" -- "$current"))',
    '  else',
    '    COMPREPLY=($(compgen -f -- "$current"))',
    '  fi',
    '}',
    'complete -o filenames -F _convnets convnets',
  ].join('\n');
}

/** The completion verb over the other verbs' declarations. */
export function completionCommand(commands: () => readonly Command[]): Command {
  return defineCommand({
    name: 'completion',
    summary: 'a shell completion script for bash or zsh',
    synopsis: ['bash|zsh'],
    description:
      'Prints a script that completes verbs, options and file names. Load it from your shell start-up file.',
    options: {},
    examples: [
      'eval "$(convnets completion bash)"   # in ~/.bashrc',
      'eval "$(convnets completion zsh)"    # in ~/.zshrc',
    ],
    run: ({ positionals }) => {
      const [shell, extra] = positionals;
      if (extra !== undefined)
        throw new UsageError(`unexpected argument '${extra}': completion takes one shell`);
      if (shell === 'bash') console.log(bashScript(commands()));
      else if (shell === 'zsh')
        console.log(`autoload -U +X bashcompinit && bashcompinit\n${bashScript(commands())}`);
      else
        throw new UsageError(
          shell === undefined ? 'name a shell: bash or zsh' : `unknown shell '${shell}': bash or zsh`,
        );
    },
  });
}
