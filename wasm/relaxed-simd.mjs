// clang 14 (Debian's) compiles WebAssembly relaxed SIMD's fused multiply-add from an early draft of the proposal:
// `f32x4.fma` (0xfd 0xaf 0x01), which no shipping runtime accepts. The proposal as standardised and shipped (Chromium
// 114 on; V8 behind --experimental-wasm-relaxed-simd before) names it `f32x4.relaxed_madd`, opcode 0xfd 0x105
// (0xfd 0x85 0x02), with the same three v128 operands (a·b + c) and an encoding of the same length. This walks a
// module's code section instruction by instruction and rewrites the one into the other in place; an instruction it
// does not know stops it with an error, so a byte is never rewritten on a guess. Newer clang emits the final opcode
// itself (`__builtin_wasm_relaxed_madd_f32x4`), and then there is nothing to rewrite.

const DRAFT_FMA = 0xaf; // f32x4.fma in the draft clang 14 implements
const RELAXED_MADD = [0x85, 0x02]; // 0x105, f32x4.relaxed_madd, as an unsigned LEB128

class Reader {
  constructor(bytes, at, end) {
    this.bytes = bytes;
    this.at = at;
    this.end = end;
  }
  byte() {
    if (this.at >= this.end)
      throw new Error(`relaxed-simd: instruction runs past its function at byte ${this.at}`);
    return this.bytes[this.at++];
  }
  leb() {
    let value = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      if (shift < 28) value |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) return value >>> 0;
      if (shift > 70) throw new Error(`relaxed-simd: LEB128 too long at byte ${this.at}`);
    }
  }
  skip(n) {
    for (let i = 0; i < n; i++) this.byte();
  }
  memarg() {
    this.leb(); // alignment
    this.leb(); // offset
  }
}

/** The immediates after a 0xfd-prefixed (SIMD) instruction with sub-opcode `op`. */
function simdImmediates(reader, op) {
  // Loads, v128.store, load32/64_zero: a memory argument; v128.const and i8x16.shuffle: 16 bytes; extract and
  // replace lane: a lane; load and store lane: both. The rest have none.
  if (op <= 11 || op === 92 || op === 93) reader.memarg();
  else if (op === 12 || op === 13) reader.skip(16);
  else if (op >= 21 && op <= 34) reader.skip(1);
  else if (op >= 84 && op <= 91) {
    reader.memarg();
    reader.skip(1);
  }
}

const NO_IMMEDIATES = new Set([0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1]);
const ONE_INDEX = new Set([0x0c, 0x0d, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0xd2]);
const ONE_BYTE = new Set([0x3f, 0x40, 0xd0]);
const BLOCKS = new Set([0x02, 0x03, 0x04]);

/** The immediates after a 0xfc-prefixed instruction (saturating truncation, bulk memory, tables). */
function miscImmediates(reader, op) {
  if (op <= 7) return;
  if (op === 8) {
    reader.leb();
    reader.skip(1);
  } else if (op === 10) reader.skip(2);
  else if (op === 11) reader.skip(1);
  else if (op === 12 || op === 14) {
    reader.leb();
    reader.leb();
  } else if (op <= 17) reader.leb();
  else throw new Error(`relaxed-simd: unknown instruction 0xfc ${op}`);
}

/** Skips one instruction whose opcode byte is `opcode`; returns the offset of an f32x4.fma's sub-opcode, or -1. */
function instruction(reader, opcode) {
  if ((opcode >= 0x45 && opcode <= 0xc4) || NO_IMMEDIATES.has(opcode)) return -1; // numeric and control
  if (ONE_INDEX.has(opcode) || opcode === 0x41 || opcode === 0x42)
    reader.leb(); // indices; i32/i64.const
  else if (ONE_BYTE.has(opcode)) reader.skip(1);
  else if (opcode >= 0x28 && opcode <= 0x3e)
    reader.memarg(); // loads and stores
  else if (opcode === 0x43 || opcode === 0x44)
    reader.skip(opcode === 0x43 ? 4 : 8); // f32/f64.const
  else if (BLOCKS.has(opcode)) {
    const type = reader.bytes[reader.at];
    if (type === 0x40 || (type >= 0x6f && type <= 0x7f)) reader.skip(1);
    else reader.leb(); // a type index (s33, non-negative)
  } else if (opcode === 0x0e) {
    const targets = reader.leb(); // br_table: the targets and the default
    for (let i = 0; i <= targets; i++) reader.leb();
  } else if (opcode === 0x11) {
    reader.leb();
    reader.leb();
  } else if (opcode === 0x1c) reader.skip(reader.leb());
  else if (opcode === 0xfc) miscImmediates(reader, reader.leb());
  else if (opcode === 0xfe) {
    if (reader.leb() === 0x03)
      reader.skip(1); // atomic.fence
    else reader.memarg();
  } else if (opcode === 0xfd) {
    const at = reader.at;
    const op = reader.leb();
    if (op === DRAFT_FMA && reader.at === at + 2) return at;
    simdImmediates(reader, op);
  } else
    throw new Error(`relaxed-simd: unknown instruction 0x${opcode.toString(16)} at byte ${reader.at - 1}`);
  return -1;
}

/**
 * Rewrites every draft `f32x4.fma` in the module `bytes` (a Uint8Array, changed in place) into the standard
 * `f32x4.relaxed_madd`; returns how many it rewrote.
 */
export function rewriteDraftFma(bytes) {
  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    throw new Error('relaxed-simd: not a WebAssembly module');
  const sections = new Reader(bytes, 8, bytes.length);
  let rewritten = 0;
  while (sections.at < bytes.length) {
    const id = sections.byte();
    const size = sections.leb();
    const end = sections.at + size;
    if (id === 10) {
      const code = new Reader(bytes, sections.at, end);
      const functions = code.leb();
      for (let f = 0; f < functions; f++) {
        const bodySize = code.leb();
        const body = new Reader(bytes, code.at, code.at + bodySize);
        const groups = body.leb();
        for (let g = 0; g < groups; g++) {
          body.leb();
          body.skip(1);
        }
        while (body.at < body.end) {
          const at = instruction(body, body.byte());
          if (at >= 0) {
            bytes.set(RELAXED_MADD, at);
            rewritten++;
          }
        }
        code.at = body.end;
      }
    }
    sections.at = end;
  }
  return rewritten;
}
