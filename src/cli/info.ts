import { getBackend, preferredBackends } from '../backend/registry.js';
import { version } from '../version.js';

export function runInfo(): void {
  const backend = getBackend().describe();
  console.log(`convnets ${version}`);
  console.log(`backend  ${backend.name}`);
  for (const [label, value] of Object.entries(backend.details)) console.log(`${label.padEnd(8)} ${value}`);
  // A faster backend that is not the one running: why not, or how to select it.
  for (const { name, unavailableReason } of preferredBackends()) {
    if (name === backend.name) continue;
    console.log(`${name.padEnd(8)} ${unavailableReason ?? `available (CONVNETS_BACKEND=${name})`}`);
  }
  console.log(`threads  ${backend.threads}`);
  console.log(`node     ${process.version}`);
}
