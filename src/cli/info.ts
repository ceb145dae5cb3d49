import { NativeBackend } from '../backend/native/index.js';
import { nativeUnavailableReason } from '../backend/native/addon.js';
import { getBackend } from '../backend/registry.js';
import { version } from '../version.js';

export function runInfo(): void {
  const backend = getBackend();
  console.log(`convnets ${version}`);
  console.log(`backend  ${backend.name}`);
  if (backend instanceof NativeBackend) {
    const library = backend.library();
    console.log(`oneDNN   ${library.version}`);
    console.log(`isa      ${library.isa}`);
    console.log(`layout   ${library.blockedLayouts ? 'blocked (oneDNN formats between layers)' : 'plain NCHW'}`);
  } else {
    console.log(`native   ${nativeUnavailableReason() ?? 'available (CONVNETS_BACKEND=native)'}`);
  }
  console.log(`threads  ${backend.threads}`);
  console.log(`node     ${process.version}`);
}
