import { getBackend } from '../backend/registry.js';
import { version } from '../version.js';

export function runInfo(): void {
  const backend = getBackend();
  console.log(`convnets ${version}`);
  console.log(`backend  ${backend.name}`);
  console.log(`threads  ${backend.threads}`);
  console.log(`node     ${process.version}`);
}
