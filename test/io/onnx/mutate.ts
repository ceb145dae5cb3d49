/**
 * Seeded mutations of protobuf bytes (.onnx files, TensorProtos): bit flips, bytes set, cuts, deletions, copies, and
 * varints spliced in where lengths and counts were.
 */

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
  const at = (n = bytes.length) => Math.floor(random() * n);
  const out = bytes.slice();
  switch (at(6)) {
    case 0: {
      const flips = 1 + at(4);
      for (let i = 0; i < flips; i++) out[at()] ^= 1 << at(8);
      return { bytes: out, how: `${flips} bit flips` };
    }
    case 1: {
      const i = at();
      out[i] = at(256);
      return { bytes: out, how: `byte ${i} set` };
    }
    case 2: {
      const cut = at();
      return { bytes: bytes.slice(0, cut), how: `cut at ${cut}` };
    }
    case 3: {
      // A varint spliced in where a length or value was: lengths and counts that lie.
      const i = at();
      const varint = VARINTS[at(VARINTS.length)];
      const n = 1 + at(3);
      return {
        bytes: Uint8Array.from([...bytes.subarray(0, i), ...varint, ...bytes.subarray(i + n)]),
        how: `${n} bytes at ${i} replaced by varint [${varint}]`,
      };
    }
    case 4: {
      const i = at();
      const n = 1 + at(32);
      return {
        bytes: Uint8Array.from([...bytes.subarray(0, i), ...bytes.subarray(i + n)]),
        how: `${n} bytes deleted at ${i}`,
      };
    }
    default: {
      const [i, j, n] = [at(), at(), 1 + at(64)];
      out.set(bytes.subarray(j, j + n).subarray(0, Math.max(0, out.length - i)), i);
      return { bytes: out, how: `${n} bytes copied from ${j} to ${i}` };
    }
  }
}
