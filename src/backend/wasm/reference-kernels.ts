import type { Backend } from '../backend.js';

/**
 * What the wasm backend hands to the reference backend, and when: its inputs are copied out of WebAssembly memory
 * and the result copied back. Everything not listed runs in wasm. docs/wasm-backend.md prints this table and
 * `convnets info` shows it; the backend can delegate only a kernel named here (the compiler checks).
 */
export const referenceKernels = {
  reduce: 'an empty input; more than 16 dimensions alternating reduced and kept',
  permute: 'always',
  slice: 'always',
  pad: 'always',
  concat: 'always',
  oneHot: 'always',
  im2col: 'always (the wasm convolution packs its columns without it)',
  lrn: 'always',
  lrnBackward: 'always',
  resize2d: 'always',
  resize2dBackward: 'always',
  adaptiveAvgPool2d: 'uneven bins (even bins, global pooling included, run in wasm)',
  adaptiveAvgPool2dBackward: 'uneven bins',
  unary: "'log' only",
  binary: "'pow'; broadcasting that alternates over more than 16 dimensions",
} as const satisfies Partial<Record<keyof Backend, string>>;

export type ReferenceKernel = keyof typeof referenceKernels;
