/**
 * The kernel contract. One method per kernel; every shape passed is the logical NCHW shape, whatever physical
 * layout the backend keeps (DESIGN.md decision 1). A backend that lacks a method does not compile.
 */
export type DType = 'float32' | 'int32';
/** A tensor's logical shape, outermost axis first (NCHW for images). */
export type Shape = readonly number[];
export type TypedArray = Float32Array | Int32Array;

/** An opaque handle to values a backend owns. Only the backend that made it may look inside. */
export interface Storage {
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
}

export type UnaryOp =
  | 'neg'
  | 'abs'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'square'
  | 'reciprocal'
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  /** LeCun's 1998 squashing function 1.7159 · tanh(2x/3). */
  | 'scaledTanh'
  | 'sign';

/** Unary ops whose gradient has its own kernel (oneDNN's eltwise backward); the rest are written with ops. */
export type ActivationOp = 'relu' | 'sigmoid' | 'tanh' | 'scaledTanh';

/** Comparisons yield 1 where true and 0 where false, as float32. */
export type BinaryOp =
  'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum' | 'pow' | 'equal' | 'greater' | 'less';

export type ReduceOp = 'sum' | 'max' | 'min';

export interface Conv2dAttrs {
  stride: readonly [number, number];
  /** [top, bottom, left, right]: 'same' with an even kernel pads unevenly, as PyTorch does. */
  padding: readonly [number, number, number, number];
  dilation: readonly [number, number];
  groups: number;
}

/**
 * Work fused into a convolution's output, in this order: `add` (a storage of the output's shape) is added, then
 * ReLU applied. Inference graphs fold a residual sum and an activation into the convolution this way.
 */
export interface ConvPostOps {
  add?: Storage | null;
  relu?: boolean;
  /**
   * The caller gives `add` up: the backend may write the output into its memory (saving a copy of it), and the
   * caller releases `add` right after without reading it again.
   */
  addInPlace?: boolean;
  /**
   * The weights are being trained: the optimizer replaces them before another call reads them, so a backend
   * keeps no copy of them in another layout for later calls.
   */
  trainedWeights?: boolean;
}

export interface Pool2dAttrs {
  kernel: readonly [number, number];
  stride: readonly [number, number];
  /** [top, bottom, left, right]. */
  padding: readonly [number, number, number, number];
  ceilMode: boolean;
  /** Average pooling only: divide by the full window, padding included (PyTorch's default true). */
  countIncludePad: boolean;
}

export type PoolKind = 'max' | 'avg';

/**
 * PyTorch's interpolation modes: 'nearest' (source index floor(out · in/out)) and 'bilinear' with align_corners
 * false (half-pixel centres, edges clamped).
 */
export type ResizeMode = 'nearest' | 'bilinear';

/** PyTorch's LocalResponseNorm: b = a / (k + alpha/size · Σ a²)^beta over `size` neighbouring channels. */
export interface LrnAttrs {
  size: number;
  alpha: number;
  beta: number;
  k: number;
}

export interface PoolResult {
  y: Storage;
  /** What the backward pass needs from the forward (max pooling's argmax); null for average pooling. */
  workspace: Storage | null;
}

export interface BatchNormTrainingResult {
  y: Storage;
  /** Per-channel batch mean and biased variance, shape [C]. */
  mean: Storage;
  variance: Storage;
  /**
   * Where a ReLU was fused (batchNormTraining's `relu`): its mask, kept for batchNormBackward, where the backend
   * keeps one; null where the backward pass reads the output instead, or no ReLU was fused.
   */
  reluMask: Storage | null;
}

/** A ReLU fused after a training BatchNorm, as batchNormBackward needs it: the mask its training call kept, else y. */
export type FusedRelu = { readonly mask: Storage } | { readonly y: Storage };

export interface BatchNormGradients {
  dx: Storage;
  dgamma: Storage;
  dbeta: Storage;
}

export interface MemoryInfo {
  /** Storages allocated and not yet released. */
  storages: number;
  bytes: number;
  /**
   * Storages the garbage collector freed because nothing released them, since the backend started. With `storages`,
   * what a program made and never released, whenever the collector ran: a count the collector's timing cannot move.
   */
  collected: number;
  /**
   * Bytes of freed storages kept for reuse (the native backend's pool: a training step allocates the same sizes each
   * time). Backends without a pool leave it out.
   */
  pooledBytes?: number;
  /**
   * Everything the backend holds from the system: live storages, kernels' temporaries and the pool; the part of the
   * process's resident memory that is the backend's. Backends that do not know leave it out.
   */
  heldBytes?: number;
  /** The most bytes the backend ever had in use at once (live storages and temporaries, no pool); where it knows. */
  peakBytes?: number;
}

/** Kernel calls captured as they ran, to run again on the same memory (Recorder). */
export interface Recording {
  /** Runs the calls again on `inputs`, storages of the recorded inputs' shapes and dtypes (any layout). */
  replay(inputs: readonly Storage[]): void;
  /** The steps a replay runs: each kernel call, or a group of calls run together (a backend may merge some). */
  steps(): number;
  /** Frees the memory the recording holds now rather than at garbage collection. */
  release(): void;
}

/**
 * Records the kernel calls of a run and replays them later without JavaScript in between: for a fixed inference
 * graph, what each call costs beyond its kernel goes. Every storage a recorded call used keeps its memory for as
 * long as the recording lives, and a replay writes the same memory again, so callers copy the outputs they hand
 * out. Optional: a backend without it runs every call.
 */
export interface Recorder {
  /**
   * Runs fn and records its kernel calls; null when one of them cannot be replayed (a value read or uploaded).
   * `inputs` are what the calls read as the run's inputs, which each replay replaces; fn may
   * release them, and returns the storages it outputs. `next`, called after fn: for each input, the storage that
   * now holds the value the next replay will be given for it (a training step's updated parameter), or null; a
   * backend may then have the replay read and write it in place.
   */
  record(
    inputs: readonly Storage[],
    fn: () => readonly Storage[],
    next?: () => readonly (Storage | null)[],
  ): Recording | null;
}

/** What `convnets info` prints about a backend. */
export interface BackendDescription {
  name: string;
  threads: number;
  /** Facts particular to the backend, in the order shown (native: oneDNN's version, instruction set, layout). */
  details: Record<string, string>;
}

/** The kernel contract every backend implements (reference, native, wasm): storage, then one method per kernel. */
export interface Backend {
  readonly name: string;
  /** Threads its kernels use. */
  readonly threads: number;
  /** True for a backend that tracks shapes and holds no values (meta): callers may skip computing values for it. */
  readonly shapeOnly?: boolean;
  readonly recorder?: Recorder;
  /** What the backend is and how it runs (version, instruction set, threads), for `convnets info`. */
  describe(): BackendDescription;

  // Storage
  /** A new storage holding these row-major values under `shape`. */
  upload(values: TypedArray, shape: Shape): Storage;
  /** Logical row-major (NCHW) values; a fresh array the caller may keep. */
  read(x: Storage, shape: Shape): TypedArray;
  /** A new storage of `shape` with every element `value`. */
  fill(shape: Shape, value: number, dtype: DType): Storage;
  /**
   * Frees the storage now. One never released is the backend's to reclaim when the garbage collector finds it
   * unreachable (tensors hold storages and nothing else frees them).
   */
  release(x: Storage): void;
  /** Live storages and bytes the backend holds (tests check that a step leaves them where they were). */
  memory(): MemoryInfo;
  /** The same values converted to another dtype. */
  cast(x: Storage, shape: Shape, dtype: DType): Storage;
  /** Same values in row-major order under a new shape of equal size. */
  reshape(x: Storage, shape: Shape, newShape: Shape): Storage;

  // Elementwise
  /** An elementwise function of one input (neg, exp, relu, ...). */
  unary(op: UnaryOp, x: Storage, shape: Shape): Storage;
  /** dL/dx of an activation given its input x, output y and dL/dy. */
  activationBackward(op: ActivationOp, x: Storage, y: Storage, dy: Storage, shape: Shape): Storage;
  /** NumPy broadcasting; outShape is the broadcast of both shapes. */
  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape): Storage;
  /** alpha·x + beta·y for x and y of one shape, in one pass (an optimizer's update). */
  axpby(alpha: number, x: Storage, beta: number, y: Storage, shape: Shape): Storage;
  /** Reduces over `axes`, keeping them as size-1 dimensions. */
  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[]): Storage;

  // Linear algebra and data movement
  /** Batched product of [batch, m, k] and [batch, k, n] (after the optional transposes of each matrix). */
  matmul(
    a: Storage,
    b: Storage,
    batch: number,
    m: number,
    k: number,
    n: number,
    transposeA: boolean,
    transposeB: boolean,
  ): Storage;
  /** Reorders the axes: output axis i is input axis perm[i]. */
  permute(x: Storage, shape: Shape, perm: readonly number[]): Storage;
  /** The block of `size` elements per axis starting at `begin`. */
  slice(x: Storage, shape: Shape, begin: readonly number[], size: readonly number[]): Storage;
  /** Pads each axis with `before` and `after` elements of `value`. */
  pad(x: Storage, shape: Shape, before: readonly number[], after: readonly number[], value: number): Storage;
  /** Joins tensors of equal shape but for `axis` along that axis. */
  concat(xs: readonly Storage[], shapes: readonly Shape[], axis: number): Storage;
  /** float32 [n, numClasses] with a 1 at each int32 label. */
  oneHot(labels: Storage, n: number, numClasses: number): Storage;

  // Convolution
  /** Columns [groups, C/groups · kh · kw, N · outH · outW] of an NCHW input. */
  im2col(x: Storage, xShape: Shape, kernel: readonly [number, number], attrs: Conv2dAttrs): Storage;
  /**
   * 2-D cross-correlation of an NCHW input with [out, in/groups, kH, kW] weights, with an optional fused sum and
   * ReLU.
   */
  conv2d(
    x: Storage,
    xShape: Shape,
    w: Storage,
    wShape: Shape,
    bias: Storage | null,
    attrs: Conv2dAttrs,
    post?: ConvPostOps,
  ): Storage;
  /** Gradient of conv2d with respect to its input; `trainedWeights` as in ConvPostOps. */
  conv2dBackwardData(
    dy: Storage,
    dyShape: Shape,
    w: Storage,
    wShape: Shape,
    xShape: Shape,
    attrs: Conv2dAttrs,
    trainedWeights?: boolean,
  ): Storage;
  /** Gradient of conv2d with respect to its weights. */
  conv2dBackwardFilter(
    x: Storage,
    xShape: Shape,
    dy: Storage,
    dyShape: Shape,
    wShape: Shape,
    attrs: Conv2dAttrs,
  ): Storage;

  // Pooling and normalisation
  /**
   * `withWorkspace` false: no backward pass will follow (inference), so max pooling may skip its argmax and
   * return a null workspace.
   */
  pool2d(kind: PoolKind, x: Storage, xShape: Shape, attrs: Pool2dAttrs, withWorkspace?: boolean): PoolResult;
  /** Gradient of pool2d with respect to its input; max pooling uses the workspace pool2d returned. */
  pool2dBackward(
    kind: PoolKind,
    dy: Storage,
    dyShape: Shape,
    xShape: Shape,
    attrs: Pool2dAttrs,
    workspace: Storage | null,
  ): Storage;
  /** Mean over adaptive windows to an [outH, outW] output, as PyTorch's adaptive_avg_pool2d. */
  adaptiveAvgPool2d(x: Storage, xShape: Shape, outSize: readonly [number, number]): Storage;
  /** Gradient of adaptiveAvgPool2d with respect to its input. */
  adaptiveAvgPool2dBackward(dy: Storage, dyShape: Shape, xShape: Shape): Storage;
  /** An [N, C, H, W] input resampled to [N, C, outSize[0], outSize[1]] (PyTorch's F.interpolate). */
  resize2d(x: Storage, xShape: Shape, outSize: readonly [number, number], mode: ResizeMode): Storage;
  /** Gradient of resize2d with respect to its input. */
  resize2dBackward(dy: Storage, dyShape: Shape, xShape: Shape, mode: ResizeMode): Storage;
  /** Local response normalisation across channels (AlexNet's). */
  lrn(x: Storage, shape: Shape, attrs: LrnAttrs): Storage;
  /** Gradient of lrn with respect to its input. */
  lrnBackward(x: Storage, dy: Storage, shape: Shape, attrs: LrnAttrs): Storage;
  /** Normalises with batch statistics over N, H, W; gamma and beta are [C]. `relu`: then a ReLU, in one pass. */
  batchNormTraining(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    eps: number,
    relu?: boolean,
  ): BatchNormTrainingResult;
  /** Normalises with stored mean and variance (evaluation mode); gamma and beta are [C]. */
  batchNormInference(
    x: Storage,
    shape: Shape,
    gamma: Storage,
    beta: Storage,
    mean: Storage,
    variance: Storage,
    eps: number,
  ): Storage;
  /**
   * Gradients of training-mode batch normalisation with respect to x, gamma and beta; with `relu` (a training call
   * that fused one), dy is the gradient of the ReLU's output.
   */
  batchNormBackward(
    x: Storage,
    dy: Storage,
    shape: Shape,
    gamma: Storage,
    mean: Storage,
    variance: Storage,
    eps: number,
    relu?: FusedRelu | null,
  ): BatchNormGradients;

  // Softmax
  /** Softmax (or log-softmax when `log`) along `axis`. */
  softmax(x: Storage, shape: Shape, axis: number, log: boolean): Storage;
  /** Given y = softmax(x) (or log-softmax when `log`), dL/dx from dL/dy. */
  softmaxBackward(y: Storage, dy: Storage, shape: Shape, axis: number, log: boolean): Storage;
}
