import { FormatError, ValueError } from '../../errors.js';
import { tensor, type Tensor } from '../../tensor/index.js';
import {
  decodeElements,
  elementCount,
  elementSize,
  inFile,
  readSource,
  type ElementType,
  type Source,
} from '../common.js';
import {
  PyDict,
  PyGlobal,
  PyObject,
  PyTuple,
  describe,
  unpickle,
  type PyValue,
  type Reducer,
} from './pickle.js';
import { ZipArchive } from './zip.js';
import { checkOptions } from '../../options.js';

/**
 * PyTorch's `.pth`/`.pt` files as torch.save(model.state_dict()) writes them: the zip format of torch ≥ 1.6
 * (`<name>/data.pkl` pickles the dict, each storage is a `<name>/data/<key>` entry) and the legacy format before
 * it (a run of pickles followed by the raw storages), which many published weights still use.
 */

const STORAGE_TYPES = new Map<string, ElementType>([
  ['torch.FloatStorage', 'float32'],
  ['torch.DoubleStorage', 'float64'],
  ['torch.HalfStorage', 'float16'],
  ['torch.BFloat16Storage', 'bfloat16'],
  ['torch.LongStorage', 'int64'],
  ['torch.IntStorage', 'int32'],
  ['torch.ShortStorage', 'int16'],
  ['torch.CharStorage', 'int8'],
  ['torch.ByteStorage', 'uint8'],
  ['torch.BoolStorage', 'bool'],
]);

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/**
 * What reading may allocate by default, as a multiple of the file's size: entries inflated from the archive plus the
 * tensors' values (4 bytes each). A stored archive reads to about its own size (4× for int8 or bool storages widened
 * to int32) and deflate shrinks real weights by well under 2×, so 16× leaves room for both; a file that claims more
 * (compressed zeros, a one-element storage viewed with zero strides as millions) is refused before it is expanded.
 */
const PTH_EXPANSION = 16;
/** The default limit's floor, so that a small file may still hold a few expanded views or zero-filled buffers. */
const PTH_MIN_BYTES = 256 * 2 ** 20;

export interface PthOptions {
  /**
   * The most bytes reading may allocate: entries inflated from the archive and the tensors' values (4 bytes each).
   * Default: PTH_EXPANSION × the file's size, at least PTH_MIN_BYTES.
   */
  maxBytes?: number;
}

/** Counts what reading allocates against the limit, before each allocation. */
class ReadBudget {
  private used = 0;

  constructor(
    private readonly limit: number,
    private readonly why: string,
  ) {}

  take(bytes: number, what: string): void {
    if (bytes > this.limit - this.used) {
      throw new FormatError(
        `${what} needs ${bytes} bytes, which would take what this file expands to past ${this.limit} bytes ` +
          `(${this.why}); pass { maxBytes } to read it anyway`,
      );
    }
    this.used += bytes;
  }
}

function budgetFor(fileBytes: number, options: PthOptions): ReadBudget {
  const { maxBytes } = options;
  if (maxBytes !== undefined) {
    if (!(maxBytes >= 0))
      throw new ValueError(`decodePth: maxBytes ${maxBytes} is not a non-negative number`);
    return new ReadBudget(maxBytes, 'the maxBytes given');
  }
  const limit = Math.max(PTH_EXPANSION * fileBytes, PTH_MIN_BYTES);
  return new ReadBudget(limit, `${PTH_EXPANSION} × the file's ${fileBytes} bytes, at least ${PTH_MIN_BYTES}`);
}

/** One `('storage', type, key, location, numel)` reference; its bytes are found after the pickle is read. */
class StorageRef extends PyObject {
  readonly typeName = 'storage';
  bytes: Uint8Array | null = null;

  constructor(
    readonly key: string,
    readonly type: ElementType,
    readonly numel: number,
  ) {
    super();
  }
}

/** torch._utils._rebuild_tensor_v2's arguments, checked; values are read only when the tensor is materialised. */
class TensorRef extends PyObject {
  readonly typeName = 'tensor';

  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {
    super();
  }
}

function integers(value: PyValue, what: string, where: string): number[] {
  if (
    !(value instanceof PyTuple) ||
    !value.items.every((v) => Number.isSafeInteger(v) && (v as number) >= 0)
  ) {
    throw new FormatError(
      `pickle: ${where}: ${what} is ${describe(value)}, not a tuple of non-negative integers`,
    );
  }
  return value.items as number[];
}

const rebuildTensor: Reducer = (args, where) => {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.length < 6 || args.length > 7)
    throw new FormatError(`pickle: ${where}: _rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
  const [storage, offset] = args;
  if (!(storage instanceof StorageRef))
    throw new FormatError(`pickle: ${where}: tensor storage is ${describe(storage)}`);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw new FormatError(
      `pickle: ${where}: storage offset ${describe(offset)} is not a non-negative integer`,
    );
  }
  const size = integers(args[2], 'size', where);
  const stride = integers(args[3], 'stride', where);
  if (size.length !== stride.length) {
    throw new FormatError(`pickle: ${where}: size has ${size.length} dimensions but stride ${stride.length}`);
  }
  return new TensorRef(storage, offset as number, size, stride);
};

const rebuildParameter: Reducer = (args, where) => {
  // (data, requires_grad, backward_hooks): the tensor is what a state dict needs.
  if (!(args[0] instanceof TensorRef))
    throw new FormatError(`pickle: ${where}: parameter data is ${describe(args[0] ?? null)}`);
  return args[0];
};

const orderedDict: Reducer = (args, where) => {
  const dict = new PyDict();
  const pairs = args[0];
  if (args.length === 0) return dict;
  if (args.length === 1 && Array.isArray(pairs)) {
    for (const pair of pairs) {
      const items = pair instanceof PyTuple ? pair.items : Array.isArray(pair) ? pair : [];
      const key = items[0];
      if (items.length !== 2 || !(typeof key === 'string' || typeof key === 'number')) {
        throw new FormatError(
          `pickle: ${where}: OrderedDict item ${describe(pair)} is not a (key, value) pair`,
        );
      }
      dict.items.set(key, items[1]);
    }
    return dict;
  }
  throw new FormatError(`pickle: ${where}: OrderedDict arguments are not supported`);
};

const GLOBALS: ReadonlyMap<string, Reducer | null> = new Map<string, Reducer | null>([
  ['collections.OrderedDict', orderedDict],
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  ['torch._utils._rebuild_parameter', rebuildParameter],
  ...[...STORAGE_TYPES.keys()].map((name): [string, null] => [name, null]),
]);

/** BINPERSID's hook: one StorageRef per key, the same object for every tensor sharing that storage. */
function storageLoader(storages: Map<string, StorageRef>, legacy: boolean) {
  return (pid: PyValue, where: string): PyValue => {
    const items = pid instanceof PyTuple ? pid.items : [];
    const [kind, type, key, , numel] = items;
    const length = legacy ? 6 : 5;
    if (items.length !== length || kind !== 'storage') {
      throw new FormatError(
        `pickle: ${where}: persistent id ${describe(pid)} is not a ${length}-item ('storage', …) tuple`,
      );
    }
    if (legacy && items[5] !== null)
      throw new FormatError(`pickle: ${where}: storage views (legacy view metadata) are not supported`);
    const elementType = type instanceof PyGlobal ? STORAGE_TYPES.get(type.qualifiedName) : undefined;
    if (elementType === undefined)
      throw new FormatError(`pickle: ${where}: storage type ${describe(type)} is not supported`);
    if (typeof key !== 'string')
      throw new FormatError(`pickle: ${where}: storage key ${describe(key)} is not a string`);
    if (!Number.isSafeInteger(numel) || (numel as number) < 0) {
      throw new FormatError(
        `pickle: ${where}: storage '${key}' size ${describe(numel)} is not a non-negative integer`,
      );
    }
    const known = storages.get(key);
    if (known !== undefined) {
      if (known.type !== elementType || known.numel !== numel) {
        throw new FormatError(
          `pickle: ${where}: storage '${key}' is referenced with two different types or sizes`,
        );
      }
      return known;
    }
    const storage = new StorageRef(key, elementType, numel as number);
    storages.set(key, storage);
    return storage;
  };
}

function checkStorageSize(storage: StorageRef, bytes: number, where: string): void {
  const expected = storage.numel * elementSize[storage.type];
  if (bytes !== expected) {
    throw new FormatError(
      `${where}: storage '${storage.key}' holds ${bytes} bytes, but ${storage.numel} ${storage.type} elements need ${expected}`,
    );
  }
}

/** An entry's bytes; what inflating it allocates is taken from the budget first. */
function readEntry(archive: ZipArchive, name: string, budget: ReadBudget): Uint8Array {
  budget.take(archive.inflatedSize(name), `pth: entry '${name}'`);
  return archive.read(name);
}

function readZip(bytes: Uint8Array, budget: ReadBudget): PyValue {
  const archive = new ZipArchive(bytes);
  const names = [...archive.entries.keys()];
  const pickleName = names.find((n) => /^[^/]*\/data\.pkl$/.test(n));
  if (pickleName === undefined)
    throw new FormatError('pth: the zip archive has no <name>/data.pkl entry (not written by torch.save)');
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  if (names.some((n) => n.startsWith(`${prefix}code/`))) {
    throw new FormatError(
      'pth: this is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead',
    );
  }
  if (archive.entries.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(readEntry(archive, `${prefix}byteorder`, budget));
    if (order !== 'little')
      throw new FormatError(`pth: byteorder is '${order}'; only little-endian files are supported`);
  }
  const storages = new Map<string, StorageRef>();
  const { value } = unpickle(readEntry(archive, pickleName, budget), {
    globals: GLOBALS,
    persistentLoad: storageLoader(storages, false),
    name: pickleName,
  });
  for (const storage of storages.values()) {
    const name = `${prefix}data/${storage.key}`;
    const entry = archive.entries.get(name);
    if (entry === undefined) throw new FormatError(`pth: storage '${storage.key}' has no entry '${name}'`);
    // The pickle says how large the storage is: an entry declaring otherwise is refused before it is inflated.
    checkStorageSize(storage, entry.size, `pth: entry '${name}'`);
    storage.bytes = readEntry(archive, name, budget);
  }
  return value;
}

function isLegacy(bytes: Uint8Array): boolean {
  // PROTO 2, LONG1 of 10 bytes: the magic number torch's legacy format starts with.
  return bytes.length >= 4 && bytes[0] === 0x80 && bytes[2] === 0x8a && bytes[3] === 0x0a;
}

function readLegacy(bytes: Uint8Array): PyValue {
  const none = new Map<string, null>();
  const magic = unpickle(bytes, { globals: none, name: 'magic number' });
  if (magic.value !== LEGACY_MAGIC)
    throw new FormatError('pth: not a PyTorch file (legacy magic number missing)');
  const protocol = unpickle(bytes, { globals: none, name: 'protocol version', start: magic.end });
  if (protocol.value !== LEGACY_PROTOCOL)
    throw new FormatError(
      `pth: legacy protocol version ${describe(protocol.value)} is not supported (1001 is)`,
    );
  const info = unpickle(bytes, { globals: none, name: 'system info', start: protocol.end });
  if (!(info.value instanceof PyDict) || info.value.items.get('little_endian') !== true) {
    throw new FormatError(
      'pth: the file was written on a big-endian machine (or has no system info); not supported',
    );
  }
  const storages = new Map<string, StorageRef>();
  const main = unpickle(bytes, {
    globals: GLOBALS,
    persistentLoad: storageLoader(storages, true),
    name: 'state pickle',
    start: info.end,
  });
  const keys = unpickle(bytes, { globals: none, name: 'storage keys', start: main.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new FormatError('pth: the legacy storage key list is not a list of strings');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const storage = storages.get(key);
    if (storage === undefined)
      throw new FormatError(`pth: legacy storage '${key}' is listed but no tensor uses it`);
    if (at + 8 > bytes.length)
      throw new FormatError(`pth: the file ends before legacy storage '${key}' (offset ${at})`);
    const count = view.getBigInt64(at, true);
    if (count !== BigInt(storage.numel)) {
      throw new FormatError(
        `pth: legacy storage '${key}' at offset ${at} says ${count} elements; the pickle says ${storage.numel}`,
      );
    }
    const length = storage.numel * elementSize[storage.type];
    if (at + 8 + length > bytes.length)
      throw new FormatError(`pth: legacy storage '${key}' runs past the end of the file`);
    checkStorageSize(storage, length, 'pth');
    storage.bytes = bytes.subarray(at + 8, at + 8 + length);
    at += 8 + length;
  }
  if (at !== bytes.length)
    throw new FormatError(`pth: ${bytes.length - at} unexpected bytes after the last legacy storage`);
  return main.value;
}

/** Row-major strides, the layout a tensor needs to be copied as one run (size-1 dimensions may have any stride). */
function isContiguous(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/** A view whose elements are known to lie in its storage, and whose values the budget has room for. */
interface CheckedView {
  ref: TensorRef;
  count: number;
  stored: Uint8Array;
}

function checkView(ref: TensorRef, key: string, budget: ReadBudget): CheckedView {
  const what = `pth: '${key}'`;
  const { storage, offset, size, stride } = ref;
  const count = elementCount(size, what);
  if (storage.bytes === null) throw new FormatError(`${what}: storage '${storage.key}' has no data`);
  let last = offset;
  for (let d = 0; d < size.length; d++) last += size[d] === 0 ? 0 : (size[d] - 1) * stride[d];
  if (count > 0 && last >= storage.numel) {
    throw new FormatError(
      `${what}: size [${size.join(', ')}], stride [${stride.join(', ')}] at offset ${offset} reach element ${last} of a ${storage.numel}-element storage`,
    );
  }
  // A view may repeat its storage's elements (zero or overlapping strides): what it costs is its own size.
  budget.take(count * 4, `${what}: ${count} elements over a ${storage.numel}-element storage`);
  return { ref, count, stored: storage.bytes };
}

function materialise({ ref, count, stored }: CheckedView, key: string): Tensor {
  const { storage, offset, size, stride } = ref;
  const width = elementSize[storage.type];
  let source = stored;
  let start = offset * width;
  if (count > 0 && !isContiguous(size, stride)) {
    // Copy the view's elements out in row-major order, then decode them as one run.
    source = new Uint8Array(count * width);
    const index = new Array<number>(size.length).fill(0);
    let element = offset;
    for (let i = 0; i < count; i++) {
      source.set(stored.subarray(element * width, (element + 1) * width), i * width);
      for (let d = size.length - 1; d >= 0; d--) {
        element += stride[d];
        if (++index[d] < size[d]) break;
        element -= stride[d] * size[d];
        index[d] = 0;
      }
    }
    start = 0;
  }
  const values = decodeElements(source, start, count, storage.type, `pth: '${key}'`);
  return tensor(values, size, { dtype: values instanceof Int32Array ? 'int32' : 'float32' });
}

/** Nested dicts (a checkpoint's {'model': state_dict, …}) flatten to dotted keys; deeper than this is refused. */
const MAX_NESTING = 16;

function collect(value: PyValue, budget: ReadBudget): Map<string, Tensor> {
  if (!(value instanceof PyDict))
    throw new FormatError(`pth: the file holds a ${describe(value)}, not a state dict`);
  const refs = new Map<string, TensorRef>();
  const visiting = new Set<PyDict>();
  const visit = (dict: PyDict, prefix: string, depth: number): void => {
    if (visiting.has(dict) || depth > MAX_NESTING)
      throw new FormatError('pth: dicts nest too deeply or contain themselves');
    visiting.add(dict);
    for (const [key, item] of dict.items) {
      const name = `${prefix}${String(key)}`;
      if (item instanceof TensorRef) {
        if (refs.has(name)) throw new FormatError(`pth: key '${name}' appears twice`);
        refs.set(name, item);
      } else if (item instanceof PyDict) visit(item, `${name}.`, depth + 1);
      // Other values (an epoch number, a config string) are not tensors and are left out.
    }
    visiting.delete(dict);
  };
  visit(value, '', 0);
  // Every view is checked, and what they all cost counted, before the first is materialised.
  const views = [...refs].map(([name, ref]): [string, CheckedView] => [name, checkView(ref, name, budget)]);
  const out = new Map<string, Tensor>();
  try {
    for (const [name, view] of views) out.set(name, materialise(view, name));
  } catch (error) {
    for (const t of out.values()) t.dispose();
    throw error;
  }
  return out;
}

/**
 * The tensors of a torch.save file's bytes, by key. float32 as is; float16, bfloat16 and float64 to float32; int64
 * to int32 (an error naming the key and any value int32 cannot hold); other integer types to int32. Views
 * (transposes, slices) are copied out in row-major order. Values that are not tensors are skipped; nested dicts
 * flatten to dotted keys ('model.conv1.weight'). What reading allocates is bounded by `options.maxBytes` (by default
 * a multiple of the file's size): a file claiming more is a FormatError before anything that large is allocated.
 */
export function decodePth(bytes: Uint8Array, options: PthOptions = {}): Map<string, Tensor> {
  checkOptions('io.decodePth', options, { maxBytes: true });
  const isZip =
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  const budget = budgetFor(bytes.length, options);
  if (isZip) return collect(readZip(bytes, budget), budget);
  if (isLegacy(bytes)) return collect(readLegacy(bytes), budget);
  if (bytes.length >= 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new FormatError(
      'pth: a tar-based PyTorch file (before 0.4) is not supported; re-save it with a newer torch',
    );
  }
  throw new FormatError('pth: not a PyTorch file (neither a zip archive nor the legacy pickle format)');
}

/** Reads a `.pth`/`.pt` file (or its bytes); see decodePth. */
export async function loadPth(source: Source, options: PthOptions = {}): Promise<Map<string, Tensor>> {
  checkOptions('io.loadPth', options, { maxBytes: true });
  const { bytes, name } = await readSource(source);
  return inFile(name, () => decodePth(bytes, options));
}
