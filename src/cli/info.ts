import { getBackend, preferredBackends } from '../backend/registry.js';
import { wasmThreadsPlanned, wasmUnavailableReason } from '../backend/wasm/node-loader.js';
import { version } from '../version.js';
import { defineCommand, refuseArguments } from './command.js';

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'version, backend and thread count',
  synopsis: [''],
  description:
    'Prints the running backend (CONVNETS_BACKEND chooses one: native, reference), what it runs on (on native, how\n' +
    "3×3 convolutions run: CONVNETS_WINOGRAD=0 keeps them off Winograd's algorithm), a faster backend that is not\n" +
    'running and why, the thread count (CONVNETS_THREADS sets it) and the Node.js version.',
  options: {},
  examples: ['convnets info', 'CONVNETS_BACKEND=reference convnets info'],
  run: ({ positionals }) => {
    refuseArguments('info', positionals);
    runInfo();
  },
});

function runInfo(): void {
  const backend = getBackend().describe();
  console.log(`convnets ${version}`);
  console.log(`backend  ${backend.name}`);
  for (const [label, value] of Object.entries(backend.details)) console.log(`${label.padEnd(8)} ${value}`);
  // A faster backend that is not the one running: why not, or how to select it.
  for (const { name, unavailableReason } of preferredBackends()) {
    if (name === backend.name) continue;
    console.log(`${name.padEnd(8)} ${unavailableReason ?? `available (CONVNETS_BACKEND=${name})`}`);
  }
  if (backend.name !== 'wasm')
    console.log(
      `wasm     ${wasmUnavailableReason() ?? `available (CONVNETS_BACKEND=wasm), ${wasmThreadsPlanned()}`}`,
    );
  console.log(`threads  ${backend.threads}`);
  console.log(`node     ${process.version}`);
}
