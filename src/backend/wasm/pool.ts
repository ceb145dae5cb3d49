/**
 * Threads for the wasm backend: several instances of the threaded kernels (convnets-threads.wasm) over one shared
 * WebAssembly.Memory, one on the calling thread and one on each worker (Web Workers in a browser, worker_threads in
 * Node). A kernel call is split into parts (wasm/src/gemm.c says how each kernel splits); the threads claim parts from
 * a counter in the shared memory until none is left, and the calling thread, having run its own, waits with
 * Atomics.wait until every part is done. A worker that has not started yet, or is slow to wake, claims nothing, and
 * the calling thread runs its parts: the pool never waits for a worker that has no part.
 *
 * Atomics.wait blocks, which a browser page's main thread may not do: there the backend runs one thread (the page
 * trains in a worker, which may block).
 */
import type { WasmMemory, WasmModule } from './webassembly.js';
import { webAssembly } from './webassembly.js';

/** The kernels that run in parts; each takes its arguments, then (scratch, thread, part, parts). */
export const parallelKernels = [
  'matmul',
  'conv2d',
  'conv2d_backward_filter',
  'conv2d_backward_data',
] as const;
export type ParallelKernel = (typeof parallelKernels)[number];

/**
 * The control block's int32s: the claim word (generation << 12 | parts left), parts done, kernel, parts, the parts
 * workers have run since the pool started (tests read it), arguments.
 */
const CLAIM = 0;
const DONE = 1;
const KERNEL = 2;
const PARTS = 3;
const WORKER_PARTS = 4;
const ARGUMENTS = 5;
const MAX_ARGUMENTS = 12;
export const CONTROL_BYTES = (ARGUMENTS + MAX_ARGUMENTS) * 4;
const PARTS_BITS = 12;
const PARTS_MASK = (1 << PARTS_BITS) - 1;
const GENERATIONS = 1 << (32 - PARTS_BITS);
/** Each worker's C stack, as the single-threaded build's (wasm/build.mjs). */
export const STACK_BYTES = 65536;

type KernelFunction = (...args: number[]) => void;

/** What a worker needs to join the pool (structured-cloneable: a browser posts it, Node passes it as workerData). */
export interface PoolThreadData {
  module: WasmModule;
  memory: WasmMemory;
  /** Offsets in the memory: the control block, the threads' GEMM scratch (thread i has the ith block). */
  control: number;
  scratch: number;
  /** The top of this worker's own C stack (stacks grow down). */
  stackTop: number;
  thread: number;
}

/** Starts one worker running runPoolThread(data); the pool keeps nothing of it. */
export type ThreadStarter = (data: PoolThreadData) => void;

/**
 * Runs the parts of the current generation's kernel that are left, on thread `thread`, until none is left or another
 * generation began. A part is claimed by lowering the parts left in the claim word, so a thread that read an older
 * generation claims nothing; the arguments are read only after a claim, while they cannot change.
 */
function runParts(
  control: Int32Array,
  kernels: Record<string, unknown>,
  generation: number,
  thread: number,
  scratch: number,
): void {
  for (;;) {
    const claim = Atomics.load(control, CLAIM);
    const left = claim & PARTS_MASK;
    if (claim >>> PARTS_BITS !== generation || left === 0) return;
    if (Atomics.compareExchange(control, CLAIM, claim, claim - 1) !== claim) continue;
    const parts = control[PARTS];
    const kernel = kernels[parallelKernels[control[KERNEL]]] as KernelFunction;
    const args = Array.from(control.subarray(ARGUMENTS, ARGUMENTS + kernel.length - 4));
    kernel(...args, scratch, thread, parts - left, parts);
    if (thread !== 0) Atomics.add(control, WORKER_PARTS, 1);
    if (Atomics.add(control, DONE, 1) + 1 === parts) Atomics.notify(control, DONE);
  }
}

/** A worker's life: instantiate the kernels over the shared memory, then run parts whenever a generation begins. */
export function runPoolThread(data: PoolThreadData): never {
  const api = webAssembly()!;
  const kernels = new api.Instance(data.module, { env: { memory: data.memory } }).exports;
  (kernels.__stack_pointer as { value: number }).value = data.stackTop;
  const control = new Int32Array(data.memory.buffer, data.control, CONTROL_BYTES / 4);
  let seen = -1;
  for (;;) {
    const claim = Atomics.load(control, CLAIM);
    const generation = claim >>> PARTS_BITS;
    if (generation !== seen) {
      seen = generation;
      runParts(control, kernels, generation, data.thread, data.scratch);
      continue;
    }
    Atomics.wait(control, CLAIM, claim);
  }
}

/** The calling thread's side of a pool of `threads` threads (itself and threads − 1 workers). */
export class ThreadPool {
  private readonly control: Int32Array;
  private generation = 0;

  constructor(
    private readonly kernels: Record<string, unknown>,
    private readonly memory: WasmMemory,
    private readonly controlOffset: number,
    private readonly scratch: number,
    readonly threads: number,
  ) {
    this.control = new Int32Array(memory.buffer, controlOffset, CONTROL_BYTES / 4);
    Atomics.store(this.control, CLAIM, 0);
  }

  /** Starts the workers; `stacks[i]` is the top of worker i + 1's stack. */
  start(module: WasmModule, stacks: readonly number[], startThread: ThreadStarter): void {
    stacks.forEach((stackTop, i) =>
      startThread({
        module,
        memory: this.memory,
        control: this.controlOffset,
        scratch: this.scratch,
        stackTop,
        thread: i + 1,
      }),
    );
  }

  /** The parts that workers, not the calling thread, have run since the pool started. */
  workerParts(): number {
    return Atomics.load(this.control, WORKER_PARTS);
  }

  /** Runs `kernel` in `parts` parts (1 to 4095) across the pool and returns when every part is done. */
  run(kernel: ParallelKernel, args: readonly number[], parts = this.threads): void {
    const control = this.control;
    control[KERNEL] = parallelKernels.indexOf(kernel);
    control[PARTS] = parts;
    control.set(args, ARGUMENTS);
    Atomics.store(control, DONE, 0);
    this.generation = (this.generation + 1) % GENERATIONS;
    Atomics.store(control, CLAIM, (this.generation << PARTS_BITS) | parts);
    Atomics.notify(control, CLAIM);
    runParts(control, this.kernels, this.generation, 0, this.scratch);
    for (let done = Atomics.load(control, DONE); done < parts; done = Atomics.load(control, DONE)) {
      Atomics.wait(control, DONE, done);
    }
  }
}
