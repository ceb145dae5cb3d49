/** safetensors files: the format itself (bytes in, bytes out) is safetensors-format.ts, which needs no Node. */
import { inFile, readSource, writeAtomic, type Source } from './common.js';
import { encodeElements } from './elements.js';
import { decodeSafetensors, headerFor, type Safetensors, type TensorMap } from './safetensors-format.js';

export { decodeSafetensors, encodeSafetensors, type Safetensors } from './safetensors-format.js';

/** Reads a safetensors file (or its bytes); see decodeSafetensors. */
export async function loadSafetensors(source: Source): Promise<Safetensors> {
  const { bytes, name } = await readSource(source);
  return inFile(name, () => decodeSafetensors(bytes));
}

/**
 * Writes tensors to a safetensors file, atomically: a temporary file, renamed over `path` only once every tensor
 * was written (tensors are read one at a time, so a failure part way leaves the old file intact).
 */
export async function saveSafetensors(
  path: string,
  tensors: TensorMap,
  metadata: Record<string, string> = {},
): Promise<void> {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header = headerFor(list, metadata);
  await writeAtomic(path, async (sink) => {
    await sink.write(header);
    for (const [, t] of list) await sink.write(encodeElements(t.data()));
  });
}
