/**
 * The functions wasm/src/*.c exports. Those taking (scratch, thread, part, parts) run in parts (pool.ts). Pointers are byte offsets into the instance's memory; the codes of each op are
 * the enums at the top of wasm/src/elementwise.c and reduce.c, in the same order.
 */
import type { ActivationOp, BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import type { WasmMemory } from './webassembly.js';

type Pointer = number;

export interface KernelExports {
  memory: WasmMemory;
  __heap_base: { value: number };
  gemm_scratch_floats(): number;
  matmul(
    a: Pointer,
    b: Pointer,
    c: Pointer,
    batch: number,
    m: number,
    k: number,
    n: number,
    transposeA: number,
    transposeB: number,
    scratch: Pointer,
    thread: number,
    part: number,
    parts: number,
  ): void;
  conv2d(
    geometry: Pointer,
    x: Pointer,
    w: Pointer,
    bias: Pointer,
    add: Pointer,
    relu: number,
    y: Pointer,
    scratch: Pointer,
    thread: number,
    part: number,
    parts: number,
  ): void;
  conv2d_backward_data(
    geometry: Pointer,
    dy: Pointer,
    w: Pointer,
    dx: Pointer,
    columns: Pointer,
    scratch: Pointer,
    thread: number,
    part: number,
    parts: number,
  ): void;
  conv2d_backward_filter(
    geometry: Pointer,
    x: Pointer,
    dy: Pointer,
    dw: Pointer,
    transposed: Pointer,
    scratch: Pointer,
    thread: number,
    part: number,
    parts: number,
  ): void;
  unary(op: number, x: Pointer, y: Pointer, size: number): void;
  activation_backward(op: number, x: Pointer, y: Pointer, dy: Pointer, dx: Pointer, size: number): void;
  binary(op: number, a: Pointer, b: Pointer, out: Pointer, rank: number, geometry: Pointer): void;
  reduce(
    op: number,
    x: Pointer,
    out: Pointer,
    sums: Pointer,
    outSize: number,
    rank: number,
    geometry: Pointer,
  ): void;
  axpby(alpha: number, x: Pointer, beta: number, y: Pointer, out: Pointer, size: number): void;
  max_pool2d(geometry: Pointer, x: Pointer, y: Pointer, argmax: Pointer): void;
  max_pool2d_backward(geometry: Pointer, dy: Pointer, argmax: Pointer, dx: Pointer): void;
  avg_pool2d(geometry: Pointer, x: Pointer, y: Pointer): void;
  avg_pool2d_backward(geometry: Pointer, dy: Pointer, dx: Pointer): void;
  batch_norm_training(
    x: Pointer,
    batch: number,
    channels: number,
    inner: number,
    gamma: Pointer,
    beta: Pointer,
    eps: number,
    y: Pointer,
    mean: Pointer,
    variance: Pointer,
  ): void;
  batch_norm_inference(
    x: Pointer,
    batch: number,
    channels: number,
    inner: number,
    gamma: Pointer,
    beta: Pointer,
    mean: Pointer,
    variance: Pointer,
    eps: number,
    y: Pointer,
  ): void;
  batch_norm_backward(
    x: Pointer,
    dy: Pointer,
    batch: number,
    channels: number,
    inner: number,
    gamma: Pointer,
    mean: Pointer,
    variance: Pointer,
    eps: number,
    dx: Pointer,
    dgamma: Pointer,
    dbeta: Pointer,
  ): void;
  softmax(
    x: Pointer,
    y: Pointer,
    outer: number,
    length: number,
    inner: number,
    log: number,
    sums: Pointer,
    maxima: Pointer,
  ): void;
  softmax_backward(
    y: Pointer,
    dy: Pointer,
    dx: Pointer,
    outer: number,
    length: number,
    inner: number,
    log: number,
    sums: Pointer,
  ): void;
}

/** log runs on the reference backend (see referenceKernels). */
export const unaryCodes: Record<Exclude<UnaryOp, 'log'>, number> = {
  neg: 0,
  abs: 1,
  exp: 2,
  sqrt: 3,
  square: 4,
  reciprocal: 5,
  relu: 6,
  sigmoid: 7,
  tanh: 8,
  scaledTanh: 9,
  sign: 10,
};

/** pow runs on the reference backend (see referenceKernels). */
export const binaryCodes: Record<Exclude<BinaryOp, 'pow'>, number> = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  maximum: 4,
  minimum: 5,
  equal: 6,
  greater: 7,
  less: 8,
};

export const activationCodes: Record<ActivationOp, number> = { relu: 0, sigmoid: 1, tanh: 2, scaledTanh: 3 };

export const reduceCodes: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };
