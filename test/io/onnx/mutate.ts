/**
 * Seeded mutations of protobuf bytes (.onnx files, TensorProtos): the byte mutations every reader's fuzz uses, and
 * varints spliced in where lengths and counts were.
 */
import { mutate as mutateBytes } from '../mutate.js';

/** Values that make varint lengths and counts lie: small, at the 7-bit boundaries, huge, negative. */
const VARINTS = [
  [0x00],
  [0x01],
  [0x7f],
  [0x80, 0x01],
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
];

export function mutate(bytes: Uint8Array, random: () => number): { bytes: Uint8Array; how: string } {
  // One mutation in four splices a varint: protobuf's lengths and counts are varints, which byte flips rarely make.
  if (random() >= 0.25) return mutateBytes(bytes, random);
  const at = (n: number) => Math.floor(random() * n);
  const i = at(bytes.length);
  const varint = VARINTS[at(VARINTS.length)];
  const n = 1 + at(3);
  return {
    bytes: Uint8Array.from([...bytes.subarray(0, i), ...varint, ...bytes.subarray(i + n)]),
    how: `${n} bytes at ${i} replaced by varint [${varint}]`,
  };
}
