/**
 * A reader of the HDF5 files h5py writes for weights (Keras's `.h5`): superblock versions 0 to 3, groups as symbol
 * tables (version 1 B-trees and local heaps) or as link messages, attributes of numbers and of fixed or
 * variable-length strings, and contiguous, compact or chunked (version 1 B-tree) datasets without filters. Anything
 * else is a FormatError naming the object and the field. Every address and length is checked against the file
 * before it is followed, every tree walk against loops, and a dataset's size against the bytes that hold it.
 */
import { decodeElements, elementCount, type ElementType } from '../elements.js';
import { Cursor, UNDEFINED_ADDRESS, hdf5Error } from './cursor.js';
import {
  MessageType,
  findMessage,
  readAttribute,
  readDataspace,
  readDatatype,
  readFilters,
  readLayout,
  readLink,
  readObjectHeader,
  usesDenseStorage,
  type Datatype,
  type Message,
  type RawAttribute,
} from './messages.js';

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
/** B-trees deeper than this are taken to loop: a group of a million members needs a handful of levels. */
const MAX_TREE_DEPTH = 64;

/** Whether the bytes start with HDF5's signature (a file with no user block, as h5py writes by default). */
export function isHdf5(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((byte, i) => bytes[i] === byte);
}

/** An attribute's value: strings for string types, numbers otherwise, row-major, with its shape. */
export interface AttributeValue {
  shape: number[];
  values: string[] | number[];
}

/** An HDF5 file opened from its bytes; `root` is the group '/'. */
export class Hdf5File {
  readonly root: Hdf5Group;
  /** @internal */
  readonly cursor: Cursor;
  private readonly globalHeaps = new Map<number, Map<number, Uint8Array>>();

  constructor(bytes: Uint8Array) {
    if (!isHdf5(bytes)) throw hdf5Error('no HDF5 signature at the start of the file');
    const head = new Cursor(bytes, 8);
    const version = head.u8('superblock version');
    // Versions 0 and 1 share one layout, 2 and 3 another; both then give the sizes, the base address and the root.
    const legacy = version === 0 || version === 1;
    if (!legacy && version !== 2 && version !== 3)
      throw hdf5Error(`superblock version ${version} is not supported`);
    if (legacy) {
      head.skip(3, 'superblock free-space, root group and reserved versions');
      head.u8('superblock shared header version');
    }
    const offsetSize = head.u8('superblock size of offsets');
    const lengthSize = head.u8('superblock size of lengths');
    if (legacy) head.skip(1 + 2 + 2 + 4 + (version === 1 ? 4 : 0), 'superblock B-tree parameters and flags');
    else head.u8('superblock file consistency flags');
    const sized = new Cursor(
      bytes,
      head.position,
      checkWidth(offsetSize, 'offsets'),
      checkWidth(lengthSize, 'lengths'),
    );
    const base = sized.address('superblock base address');
    if (base !== 0) throw hdf5Error(`superblock base address ${base} is not supported (a user block)`);
    if (legacy) {
      sized.skip(3 * offsetSize, 'superblock addresses');
      sized.address('root group link name offset');
    } else sized.skip(2 * offsetSize, 'superblock extension and end-of-file addresses');
    const rootAddress = sized.address('root group object header address');
    this.cursor = new Cursor(bytes, 0, offsetSize, lengthSize);
    this.root = new Hdf5Group(this, '/', readObjectHeader(this.cursor, rootAddress, 'group /'));
  }

  /** @internal The object at an address, a group or a dataset by what its header holds. */
  object(address: number, path: string): Hdf5Group | Hdf5Dataset {
    const messages = readObjectHeader(this.cursor, address, path);
    const isDataset = messages.some((m) => m.type === MessageType.dataLayout);
    return isDataset ? new Hdf5Dataset(this, path, messages) : new Hdf5Group(this, path, messages);
  }

  /** @internal The bytes of a variable-length value: object `index` of the global heap collection at `address`. */
  globalHeapObject(address: number, index: number, what: string): Uint8Array {
    let collection = this.globalHeaps.get(address);
    if (collection === undefined) {
      collection = readGlobalHeap(this.cursor.at(address), what);
      this.globalHeaps.set(address, collection);
    }
    const found = collection.get(index);
    if (found === undefined) throw hdf5Error(`${what}: global heap at ${address} has no object ${index}`);
    return found;
  }
}

function checkWidth(width: number, what: string): number {
  if (![2, 4, 8].includes(width)) throw hdf5Error(`superblock size of ${what} ${width} is not 2, 4 or 8`);
  return width;
}

function readGlobalHeap(heap: Cursor, what: string): Map<number, Uint8Array> {
  heap.signature('GCOL', `${what}: global heap`);
  const version = heap.u8(`${what}: global heap version`);
  if (version !== 1) throw hdf5Error(`${what}: global heap version ${version} is not supported`);
  heap.skip(3, `${what}: global heap reserved bytes`);
  const start = heap.position - 8;
  const size = heap.length(`${what}: global heap size`);
  const end = Math.min(start + size, heap.bytes.length);
  const objects = new Map<number, Uint8Array>();
  while (heap.position + 8 + heap.lengthSize <= end) {
    const index = heap.u16(`${what}: global heap object index`);
    if (index === 0) break; // free space: the rest of the collection
    heap.skip(6, `${what}: global heap object reference count`);
    const objectSize = heap.length(`${what}: global heap object size`);
    objects.set(index, heap.slice(objectSize, `${what}: global heap object ${index}`));
    heap.align(8, start);
  }
  return objects;
}

/** What both groups and datasets have: a path and attributes. */
abstract class Hdf5Object {
  constructor(
    protected readonly file: Hdf5File,
    readonly path: string,
    protected readonly messages: Message[],
  ) {}

  /** The names of the object's attributes. */
  attributeNames(): string[] {
    return this.rawAttributes().map((a) => a.name);
  }

  /** An attribute's value, or undefined when the object has none of that name. */
  attribute(name: string): AttributeValue | undefined {
    const raw = this.rawAttributes().find((a) => a.name === name);
    if (raw === undefined) {
      const info = findMessage(this.messages, MessageType.attributeInfo, this.path, 'attribute info');
      if (info !== undefined && usesDenseStorage(info.body, `${this.path}: attribute info`, true))
        throw hdf5Error(`${this.path}: attributes stored densely (in a fractal heap) are not supported`);
      return undefined;
    }
    return this.decodeAttribute(raw);
  }

  private rawAttributes(): RawAttribute[] {
    return this.messages
      .filter((m) => m.type === MessageType.attribute)
      .map((m) => {
        if (m.flags & 0x02) throw hdf5Error(`${this.path}: shared attribute messages are not supported`);
        return readAttribute(new Cursor(m.body.bytes, 0, m.body.offsetSize, m.body.lengthSize), this.path);
      });
  }

  private decodeAttribute({ name, datatype, shape, data }: RawAttribute): AttributeValue {
    const what = `${this.path} attribute '${name}'`;
    const dims = shape ?? [0];
    const count = elementCount(dims, what);
    if (datatype.size < 1) throw hdf5Error(`${what}: datatype size ${datatype.size}`);
    if (count * datatype.size > data.length)
      throw hdf5Error(
        `${what}: ${count} elements of ${datatype.size} bytes do not fit in its ${data.length}`,
      );
    const decoder = new TextDecoder();
    switch (datatype.kind) {
      case 'string': {
        const strip = datatype.spacePadded ? / +$/ : /\0.*$/s;
        const values = Array.from({ length: count }, (_, i) =>
          decoder.decode(data.subarray(i * datatype.size, (i + 1) * datatype.size)).replace(strip, ''),
        );
        return { shape: dims, values };
      }
      case 'variable-length string': {
        const element = new Cursor(data, 0, this.file.cursor.offsetSize, this.file.cursor.lengthSize);
        const values = Array.from({ length: count }, (_, i) => {
          element.position = i * datatype.size;
          const length = element.u32(`${what}: element ${i} length`);
          const address = element.address(`${what}: element ${i} heap address`);
          const index = element.u32(`${what}: element ${i} heap index`);
          const bytes = this.file.globalHeapObject(address, index, what);
          if (length > bytes.length) throw hdf5Error(`${what}: element ${i} is longer than its heap object`);
          return decoder.decode(bytes.subarray(0, length));
        });
        return { shape: dims, values };
      }
      default: {
        const values = decodeNumbers(data, 0, count, datatype, what);
        return { shape: dims, values: Array.from(values) };
      }
    }
  }
}

/** The element type of a numeric datatype, or a FormatError naming it. */
function elementType(datatype: Datatype, what: string): ElementType {
  if (datatype.kind === 'float' && !datatype.bigEndian) {
    const type = ({ 2: 'float16', 4: 'float32', 8: 'float64' } as const)[datatype.size as 2 | 4 | 8];
    if (type !== undefined) return type;
  }
  if (datatype.kind === 'integer' && !datatype.bigEndian) {
    const signed = ({ 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' } as const)[
      datatype.size as 1 | 2 | 4 | 8
    ];
    if (datatype.signed && signed !== undefined) return signed;
    if (!datatype.signed && datatype.size === 1) return 'uint8';
  }
  const description =
    datatype.kind === 'unsupported'
      ? datatype.description
      : `${'bigEndian' in datatype && datatype.bigEndian ? 'big-endian ' : ''}${datatype.kind} of ${datatype.size} bytes`;
  throw hdf5Error(`${what}: datatype ${description} is not supported`);
}

function decodeNumbers(
  data: Uint8Array,
  offset: number,
  count: number,
  datatype: Datatype,
  what: string,
): Float32Array | Int32Array {
  return decodeElements(data, offset, count, elementType(datatype, what), what);
}

/** A group: its members by name, in the order the file lists them. */
export class Hdf5Group extends Hdf5Object {
  private memberAddresses: Map<string, number> | undefined;

  /** Member names and their object header addresses. */
  members(): Map<string, number> {
    this.memberAddresses ??= this.readMembers();
    return this.memberAddresses;
  }

  /** A member by name, or by a path of names joined with '/'; undefined when there is none. */
  get(path: string): Hdf5Group | Hdf5Dataset | undefined {
    const [name, ...rest] = path.split('/').filter((part) => part !== '');
    if (name === undefined) return this;
    const address = this.members().get(name);
    if (address === undefined) return undefined;
    const childPath = `${this.path === '/' ? '' : this.path}/${name}`;
    const child = this.file.object(address, childPath);
    if (rest.length === 0) return child;
    return child instanceof Hdf5Group ? child.get(rest.join('/')) : undefined;
  }

  private readMembers(): Map<string, number> {
    const symbolTable = findMessage(this.messages, MessageType.symbolTable, this.path, 'symbol table');
    if (symbolTable !== undefined) {
      const btree = symbolTable.body.address(`${this.path}: symbol table B-tree address`);
      const heap = symbolTable.body.address(`${this.path}: symbol table local heap address`);
      return readSymbolTable(this.file.cursor, btree, heap, this.path);
    }
    const info = findMessage(this.messages, MessageType.linkInfo, this.path, 'link info');
    if (info !== undefined && usesDenseStorage(info.body, `${this.path}: link info`, false))
      throw hdf5Error(`${this.path}: links stored densely (in a fractal heap) are not supported`);
    const members = new Map<string, number>();
    for (const message of this.messages.filter((m) => m.type === MessageType.link)) {
      const { name, address } = readLink(message.body, this.path);
      members.set(name, address);
    }
    return members;
  }
}

/** A group stored as a symbol table: a version 1 B-tree of symbol table nodes naming members in a local heap. */
function readSymbolTable(
  file: Cursor,
  btreeAddress: number,
  heapAddress: number,
  what: string,
): Map<string, number> {
  const heap = file.at(heapAddress);
  heap.signature('HEAP', `${what}: local heap`);
  const version = heap.u8(`${what}: local heap version`);
  if (version !== 0) throw hdf5Error(`${what}: local heap version ${version} is not supported`);
  heap.skip(3, `${what}: local heap reserved bytes`);
  const segmentSize = heap.length(`${what}: local heap data size`);
  heap.length(`${what}: local heap free list offset`);
  const names = file
    .at(heap.address(`${what}: local heap data address`))
    .slice(segmentSize, `${what}: local heap data`);
  const nameAt = (offset: number): string => {
    const cursor = new Cursor(names, offset);
    return cursor.cString(`${what}: member name at heap offset ${offset}`);
  };
  const members = new Map<string, number>();
  const visited = new Set<number>();
  const walk = (address: number, depth: number): void => {
    if (depth > MAX_TREE_DEPTH) throw hdf5Error(`${what}: group B-tree deeper than ${MAX_TREE_DEPTH} levels`);
    if (visited.has(address))
      throw hdf5Error(`${what}: group B-tree node at ${address} is reached twice (a loop)`);
    visited.add(address);
    const node = file.at(address);
    node.signature('TREE', `${what}: group B-tree node`);
    const type = node.u8(`${what}: B-tree node type`);
    if (type !== 0) throw hdf5Error(`${what}: B-tree node type ${type} in a group (expected 0)`);
    const level = node.u8(`${what}: B-tree node level`);
    const entries = node.u16(`${what}: B-tree entries used`);
    node.skip(2 * file.offsetSize, `${what}: B-tree siblings`);
    const children: number[] = [];
    for (let i = 0; i < entries; i++) {
      node.length(`${what}: B-tree key ${i}`);
      children.push(node.address(`${what}: B-tree child ${i}`));
    }
    for (const child of children) {
      if (level > 0) walk(child, depth + 1);
      else readSymbolNode(file.at(child), what, nameAt, members);
    }
  };
  walk(btreeAddress, 0);
  return members;
}

function readSymbolNode(
  node: Cursor,
  what: string,
  nameAt: (offset: number) => string,
  members: Map<string, number>,
): void {
  node.signature('SNOD', `${what}: symbol table node`);
  const version = node.u8(`${what}: symbol table node version`);
  if (version !== 1) throw hdf5Error(`${what}: symbol table node version ${version} is not supported`);
  node.skip(1, `${what}: symbol table node reserved byte`);
  const count = node.u16(`${what}: symbol count`);
  for (let i = 0; i < count; i++) {
    const nameOffset = node.address(`${what}: symbol ${i} name offset`);
    const address = node.address(`${what}: symbol ${i} object header address`);
    node.skip(24, `${what}: symbol ${i} cache`);
    members.set(nameAt(nameOffset), address);
  }
}

/** A dataset: its shape, and its values read on demand as float32 (or int32 for integer types). */
export class Hdf5Dataset extends Hdf5Object {
  readonly shape: number[];
  readonly datatype: Datatype;

  constructor(file: Hdf5File, path: string, messages: Message[]) {
    super(file, path, messages);
    const required = (type: number, name: string): Message => {
      const message = findMessage(messages, type, path, name);
      if (message === undefined) throw hdf5Error(`${path}: dataset has no ${name} message`);
      return message;
    };
    this.datatype = readDatatype(required(MessageType.datatype, 'datatype').body, path);
    const shape = readDataspace(required(MessageType.dataspace, 'dataspace').body, path);
    this.shape = shape ?? [0];
  }

  /** The values, row-major; a filter, an unsupported type or storage never written is a FormatError naming it. */
  read(): Float32Array | Int32Array {
    const what = `dataset ${this.path.replace(/^\//, '')}`;
    const pipeline = findMessage(this.messages, MessageType.filterPipeline, what, 'filter pipeline');
    const filters = pipeline === undefined ? [] : readFilters(pipeline.body, what);
    if (filters.length > 0) throw hdf5Error(`filter ${filters[0]} in ${what} is not supported`);
    const type = elementType(this.datatype, what);
    const count = elementCount(this.shape, what);
    const byteCount = count * this.datatype.size;
    const layoutMessage = findMessage(this.messages, MessageType.dataLayout, what, 'data layout');
    const layout = readLayout((layoutMessage as Message).body, what);
    let bytes: Uint8Array;
    switch (layout.kind) {
      case 'compact':
        bytes = layout.data;
        break;
      case 'contiguous':
        if (layout.address === UNDEFINED_ADDRESS) throw hdf5Error(`${what}: its storage was never written`);
        if (layout.size < byteCount)
          throw hdf5Error(
            `${what}: ${count} elements need ${byteCount} bytes, its storage holds ${layout.size}`,
          );
        bytes = this.file.cursor.at(layout.address).slice(byteCount, `${what}: data`);
        break;
      case 'chunked':
        bytes = readChunks(
          this.file.cursor,
          layout.btreeAddress,
          layout.chunkShape,
          this.shape,
          this.datatype.size,
          what,
        );
        break;
    }
    if (bytes.length < byteCount)
      throw hdf5Error(`${what}: ${count} elements need ${byteCount} bytes, its data holds ${bytes.length}`);
    return decodeElements(bytes, 0, count, type, what);
  }
}

/**
 * Assembles a chunked dataset from the chunks a version 1 B-tree (type 1) lists. Every element must come from a
 * chunk: storage never written is an error, and the chunks' own bytes (which must lie in the file) bound the
 * dataset's size before anything is allocated.
 */
function readChunks(
  file: Cursor,
  btreeAddress: number,
  chunkShape: number[],
  shape: number[],
  elementSize: number,
  what: string,
): Uint8Array {
  const rank = shape.length;
  if (rank === 0 || chunkShape.length !== rank)
    throw hdf5Error(`${what}: chunks of rank ${chunkShape.length} for a dataset of rank ${rank}`);
  if (chunkShape.some((d) => d < 1)) throw hdf5Error(`${what}: chunk dimension 0`);
  if (btreeAddress === UNDEFINED_ADDRESS) throw hdf5Error(`${what}: its storage was never written`);
  const chunkBytes = chunkShape.reduce((a, b) => a * b, elementSize);
  const chunks: { offsets: number[]; address: number }[] = [];
  const visited = new Set<number>();
  const walk = (address: number, depth: number): void => {
    if (depth > MAX_TREE_DEPTH) throw hdf5Error(`${what}: chunk B-tree deeper than ${MAX_TREE_DEPTH} levels`);
    if (visited.has(address))
      throw hdf5Error(`${what}: chunk B-tree node at ${address} is reached twice (a loop)`);
    visited.add(address);
    const node = file.at(address);
    node.signature('TREE', `${what}: chunk B-tree node`);
    const type = node.u8(`${what}: B-tree node type`);
    if (type !== 1) throw hdf5Error(`${what}: B-tree node type ${type} for chunks (expected 1)`);
    const level = node.u8(`${what}: B-tree node level`);
    const entries = node.u16(`${what}: B-tree entries used`);
    node.skip(2 * file.offsetSize, `${what}: B-tree siblings`);
    const children: { offsets: number[]; address: number }[] = [];
    for (let i = 0; i < entries; i++) {
      node.u32(`${what}: chunk ${i} size`);
      const mask = node.u32(`${what}: chunk ${i} filter mask`);
      if (mask !== 0) throw hdf5Error(`${what}: chunk ${i} has filter mask ${mask}`);
      const offsets = Array.from({ length: rank + 1 }, (_, d) =>
        node.uint(8, `${what}: chunk ${i} offset ${d}`),
      );
      children.push({
        offsets: offsets.slice(0, rank),
        address: node.address(`${what}: chunk ${i} address`),
      });
    }
    for (const child of children) {
      if (level > 0) walk(child.address, depth + 1);
      else chunks.push(child);
    }
  };
  walk(btreeAddress, 0);
  // Unfiltered chunks are stored apart, so together they fit in the file: this bounds what is allocated below.
  if (chunks.length * chunkBytes > file.bytes.length)
    throw hdf5Error(`${what}: ${chunks.length} chunks of ${chunkBytes} bytes do not fit in the file`);
  const count = elementCount(shape, what);
  const covered = chunks.length * (chunkBytes / elementSize);
  if (covered < count)
    throw hdf5Error(
      `${what}: its ${chunks.length} chunks hold fewer than its ${count} elements (storage never written)`,
    );
  const data = chunks.map((chunk) => file.at(chunk.address).slice(chunkBytes, `${what}: chunk data`));
  const out = new Uint8Array(count * elementSize);
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const chunkStrides = chunkShape.map((_, d) => chunkShape.slice(d + 1).reduce((a, b) => a * b, 1));
  const filled = new Uint8Array(count);
  chunks.forEach((chunk, c) => {
    if (chunk.offsets.some((o, d) => o % chunkShape[d] !== 0 || o >= shape[d]))
      throw hdf5Error(`${what}: chunk at [${chunk.offsets.join(', ')}] is not on the chunk grid`);
    // Copies the chunk row by row along the last dimension, clipped at the dataset's edge.
    const rows = chunkShape.slice(0, -1).reduce((a, b) => a * b, 1);
    const last = rank - 1;
    const rowLength = Math.min(chunkShape[last], shape[last] - chunk.offsets[last]);
    for (let row = 0; row < rows; row++) {
      let target = chunk.offsets[last];
      let source = 0;
      let rest = row;
      let inside = true;
      for (let d = last - 1; d >= 0; d--) {
        const index = rest % chunkShape[d];
        rest = Math.floor(rest / chunkShape[d]);
        if (chunk.offsets[d] + index >= shape[d]) inside = false;
        target += (chunk.offsets[d] + index) * strides[d];
        source += index * chunkStrides[d];
      }
      if (!inside) continue;
      out.set(
        data[c].subarray(source * elementSize, (source + rowLength) * elementSize),
        target * elementSize,
      );
      filled.fill(1, target, target + rowLength);
    }
  });
  if (filled.includes(0))
    throw hdf5Error(`${what}: some of its elements lie in no chunk (storage never written)`);
  return out;
}
