/** Seeded mutations of a file: the fuzz tests feed them to every reader. */

/** Values that make lengths and offsets lie: zero, one past, the largest, negative as signed. */
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

export function mutate(bytes: Uint8Array, random: () => number): { bytes: Uint8Array; how: string } {
  const at = (n = bytes.length) => Math.floor(random() * n);
  const kind = at(7);
  const out = new Uint8Array(bytes); // a copy, even of a Buffer (whose slice() is a view)
  switch (kind) {
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
      const i = at(bytes.length + 1);
      const inserted = Uint8Array.from({ length: 1 + at(16) }, () => at(256));
      const grown = new Uint8Array(bytes.length + inserted.length);
      grown.set(bytes.subarray(0, i));
      grown.set(inserted, i);
      grown.set(bytes.subarray(i), i + inserted.length);
      return { bytes: grown, how: `${inserted.length} bytes inserted at ${i}` };
    }
    case 4: {
      const i = at();
      const n = 1 + at(32);
      return {
        bytes: new Uint8Array([...bytes.subarray(0, i), ...bytes.subarray(i + n)]),
        how: `${n} bytes deleted at ${i}`,
      };
    }
    case 5: {
      const i = at(Math.max(bytes.length - 4, 1));
      const value = INTERESTING_U32[at(INTERESTING_U32.length)];
      new DataView(out.buffer).setUint32(Math.min(i, Math.max(out.length - 4, 0)), value, true);
      return { bytes: out, how: `u32 at ${i} set to ${value}` };
    }
    default: {
      const i = at();
      const j = at();
      const n = 1 + at(64);
      out.set(bytes.subarray(j, j + n).subarray(0, Math.max(0, out.length - i)), i);
      return { bytes: out, how: `${n} bytes copied from ${j} to ${i}` };
    }
  }
}
