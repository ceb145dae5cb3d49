/**
 * The allocator of one wasm backend instance: blocks of its WebAssembly.Memory above the C stack, each rounded up to
 * a size class (powers of two, then eighths of the next one: at most 12.5 % waste) and reused from a free list of
 * its class. Training repeats the same shapes every step, so after the first step every block comes off a list.
 * Memory only grows (WebAssembly cannot shrink it); freed blocks stay in their lists.
 */
import type { WasmMemory } from './webassembly.js';

const PAGE_BYTES = 65536;
/** Every block starts on a 16-byte boundary: whole 128-bit vectors. */
const ALIGNMENT = 16;

export function sizeClass(bytes: number): number {
  const size = Math.max(ALIGNMENT, Math.ceil(bytes / ALIGNMENT) * ALIGNMENT);
  const power = 2 ** Math.floor(Math.log2(size));
  if (power === size) return size;
  const step = Math.max(ALIGNMENT, power / 8);
  return Math.ceil(size / step) * step;
}

export class Heap {
  private top: number;
  private readonly freeBlocks = new Map<number, number[]>();

  constructor(
    private readonly memory: WasmMemory,
    base: number,
  ) {
    this.top = Math.ceil(base / ALIGNMENT) * ALIGNMENT;
  }

  /** The offset of a block of at least `bytes` (its size is sizeClass(bytes)). */
  allocate(bytes: number): number {
    const size = sizeClass(bytes);
    const reused = this.freeBlocks.get(size)?.pop();
    if (reused !== undefined) return reused;
    const offset = this.top;
    const end = offset + size;
    const missing = end - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE_BYTES));
    this.top = end;
    return offset;
  }

  free(offset: number, bytes: number): void {
    const size = sizeClass(bytes);
    const list = this.freeBlocks.get(size);
    if (list === undefined) this.freeBlocks.set(size, [offset]);
    else list.push(offset);
  }

  /** Bytes of WebAssembly.Memory in use or held in free lists. */
  reserved(): number {
    return this.memory.buffer.byteLength;
  }
}
