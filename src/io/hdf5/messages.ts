/**
 * HDF5 object headers (versions 1 and 2) and the header messages a weights file needs: dataspace, datatype, data
 * layout, filter pipeline, attribute, link, link info, attribute info and symbol table. Field layouts follow The
 * HDF Group's "HDF5 File Format Specification Version 3.0", section IV.A.
 */
import { Cursor, UNDEFINED_ADDRESS, hdf5Error } from './cursor.js';

export const MessageType = {
  dataspace: 0x01,
  linkInfo: 0x02,
  datatype: 0x03,
  link: 0x06,
  dataLayout: 0x08,
  filterPipeline: 0x0b,
  attribute: 0x0c,
  continuation: 0x10,
  symbolTable: 0x11,
  attributeInfo: 0x15,
} as const;

/** A header message: its type, flags and a cursor over its own bytes (addresses in it still point into the file). */
export interface Message {
  type: number;
  flags: number;
  body: Cursor;
}

/** A message stored once and referred to from many headers (flag bit 1): h5py and Keras never write them. */
const SHARED = 0x02;
/** Past these, a header is taken to loop or lie: real headers have tens of messages in one or two blocks. */
const MAX_MESSAGES = 65536;
const MAX_BLOCKS = 4096;

/** A cursor over `length` bytes from the current position, for a message or a block, leaving `file` after them. */
function region(file: Cursor, length: number, what: string): Cursor {
  const bytes = file.slice(length, what);
  return new Cursor(bytes, 0, file.offsetSize, file.lengthSize);
}

/** Every message of the object header at `address`, continuation blocks followed; `what` names the object. */
export function readObjectHeader(file: Cursor, address: number, what: string): Message[] {
  if (address === UNDEFINED_ADDRESS) throw hdf5Error(`${what}: object header address is undefined`);
  const head = file.at(address);
  const version = head.bytes[address];
  return version === 1 ? readVersion1(head, what) : readVersion2(head, what);
}

function readVersion1(head: Cursor, what: string): Message[] {
  head.u8(`${what}: object header version`);
  head.skip(1, `${what}: object header reserved byte`);
  head.u16(`${what}: object header message count`);
  head.u32(`${what}: object header reference count`);
  const size = head.u32(`${what}: object header size`);
  head.skip(4, `${what}: object header padding`);
  const blocks: Cursor[] = [region(head, size, `${what}: object header messages`)];
  const messages: Message[] = [];
  const seen = new Set<number>();
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b];
    while (block.position + 8 <= block.bytes.length) {
      const type = block.u16(`${what}: message type`);
      const length = block.u16(`${what}: message size`);
      const flags = block.u8(`${what}: message flags`);
      block.skip(3, `${what}: message reserved bytes`);
      const body = region(block, length, `${what}: message 0x${type.toString(16)} body`);
      block.align(8);
      collect(head, { type, flags, body }, messages, blocks, seen, what, (c) => c);
    }
  }
  return messages;
}

function readVersion2(head: Cursor, what: string): Message[] {
  head.signature('OHDR', `${what}: object header`);
  const version = head.u8(`${what}: object header version`);
  if (version !== 2) throw hdf5Error(`${what}: object header version ${version} is not supported`);
  const flags = head.u8(`${what}: object header flags`);
  if (flags & 0x20) head.skip(16, `${what}: object header times`);
  if (flags & 0x10) head.skip(4, `${what}: object header attribute phase change`);
  const size = head.uint(1 << (flags & 0x03), `${what}: object header chunk size`);
  const orderTracked = (flags & 0x04) !== 0;
  const blocks: Cursor[] = [region(head, size, `${what}: object header messages`)];
  const messages: Message[] = [];
  const seen = new Set<number>();
  const headerSize = orderTracked ? 6 : 4;
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b];
    // What is left after the last message, if smaller than a message header, is a gap.
    while (block.position + headerSize <= block.bytes.length) {
      const type = block.u8(`${what}: message type`);
      const length = block.u16(`${what}: message size`);
      const messageFlags = block.u8(`${what}: message flags`);
      if (orderTracked) block.u16(`${what}: message creation order`);
      const body = region(block, length, `${what}: message 0x${type.toString(16)} body`);
      collect(head, { type, flags: messageFlags, body }, messages, blocks, seen, what, (continuation) => {
        continuation.signature('OCHK', `${what}: object header continuation`);
        // The block's last four bytes are its checksum.
        const rest = continuation.bytes.length - continuation.position - 4;
        return region(continuation, Math.max(rest, 0), `${what}: object header continuation messages`);
      });
    }
  }
  return messages;
}

/** Adds a message, or for a continuation message the block it points to. */
function collect(
  file: Cursor,
  message: Message,
  messages: Message[],
  blocks: Cursor[],
  seen: Set<number>,
  what: string,
  openBlock: (block: Cursor) => Cursor,
): void {
  if (message.type !== MessageType.continuation) {
    if (messages.length >= MAX_MESSAGES)
      throw hdf5Error(`${what}: more than ${MAX_MESSAGES} header messages`);
    messages.push(message);
    return;
  }
  const address = message.body.address(`${what}: continuation address`);
  const length = message.body.length(`${what}: continuation length`);
  if (seen.has(address)) throw hdf5Error(`${what}: continuation block at ${address} is read twice (a loop)`);
  if (blocks.length >= MAX_BLOCKS) throw hdf5Error(`${what}: more than ${MAX_BLOCKS} continuation blocks`);
  seen.add(address);
  const at = file.at(address);
  const block = region(at, length, `${what}: continuation block`);
  blocks.push(openBlock(block));
}

/** The one message of a type a header holds, or undefined; a shared one is refused, naming the object. */
export function findMessage(
  messages: Message[],
  type: number,
  what: string,
  name: string,
): Message | undefined {
  const found = messages.find((m) => m.type === type);
  if (found !== undefined && found.flags & SHARED)
    throw hdf5Error(`${what}: shared ${name} messages are not supported`);
  return found;
}

// ---- datatypes ----

const DATATYPE_CLASSES = [
  'fixed-point',
  'floating-point',
  'time',
  'string',
  'bitfield',
  'opaque',
  'compound',
  'reference',
  'enumerated',
  'variable-length',
  'array',
];

/** The element types a weights file holds; anything else is kept by name, for an error when it is read. */
export type Datatype =
  | { kind: 'float'; size: number; bigEndian: boolean }
  | { kind: 'integer'; size: number; signed: boolean; bigEndian: boolean }
  | { kind: 'string'; size: number; spacePadded: boolean }
  | { kind: 'variable-length string'; size: number }
  | { kind: 'unsupported'; size: number; description: string };

export function readDatatype(body: Cursor, what: string): Datatype {
  const classAndVersion = body.u8(`${what}: datatype class`);
  const typeClass = classAndVersion & 0x0f;
  const bits = body.u8(`${what}: datatype bit field`);
  body.skip(2, `${what}: datatype bit field`);
  const size = body.u32(`${what}: datatype size`);
  const className = DATATYPE_CLASSES[typeClass] ?? `unknown class ${typeClass}`;
  switch (typeClass) {
    case 0:
      return { kind: 'integer', size, signed: (bits & 0x08) !== 0, bigEndian: (bits & 0x01) !== 0 };
    case 1:
      if (bits & 0x40) return { kind: 'unsupported', size, description: 'VAX-ordered floating-point' };
      return { kind: 'float', size, bigEndian: (bits & 0x01) !== 0 };
    case 3:
      return { kind: 'string', size, spacePadded: (bits & 0x0f) === 2 };
    case 9:
      if ((bits & 0x0f) === 1) return { kind: 'variable-length string', size };
      return { kind: 'unsupported', size, description: 'variable-length sequence' };
    default:
      return { kind: 'unsupported', size, description: className };
  }
}

// ---- dataspaces ----

/** Past this rank a dataspace is taken to lie (HDF5's own limit is 32). */
const MAX_RANK = 32;

/** A dataspace's dimensions: [] for a scalar, null for the null dataspace (no elements at all). */
export function readDataspace(body: Cursor, what: string): number[] | null {
  const version = body.u8(`${what}: dataspace version`);
  const rank = body.u8(`${what}: dataspace rank`);
  body.u8(`${what}: dataspace flags`);
  if (rank > MAX_RANK) throw hdf5Error(`${what}: dataspace rank ${rank} is past ${MAX_RANK}`);
  if (version === 1) {
    body.skip(5, `${what}: dataspace reserved bytes`);
  } else if (version === 2) {
    const kind = body.u8(`${what}: dataspace type`);
    if (kind === 2) return null;
  } else {
    throw hdf5Error(`${what}: dataspace version ${version} is not supported`);
  }
  return Array.from({ length: rank }, (_, i) => body.length(`${what}: dataspace dimension ${i}`));
}

// ---- data layout and filters ----

export type Layout =
  | { kind: 'compact'; data: Uint8Array }
  | { kind: 'contiguous'; address: number; size: number }
  | { kind: 'chunked'; btreeAddress: number; chunkShape: number[] };

const CHUNK_INDEXES = ['', 'single chunk', 'implicit', 'fixed array', 'extensible array', 'version 2 B-tree'];

export function readLayout(body: Cursor, what: string): Layout {
  const version = body.u8(`${what}: data layout version`);
  if (version !== 3 && version !== 4)
    throw hdf5Error(`${what}: data layout message version ${version} is not supported`);
  const layoutClass = body.u8(`${what}: data layout class`);
  switch (layoutClass) {
    case 0: {
      const size = body.u16(`${what}: compact data size`);
      return { kind: 'compact', data: body.slice(size, `${what}: compact data`) };
    }
    case 1:
      return {
        kind: 'contiguous',
        address: body.address(`${what}: contiguous data address`),
        size: body.length(`${what}: contiguous data size`),
      };
    case 2: {
      if (version === 4) {
        body.u8(`${what}: chunked layout flags`);
        const rank = body.u8(`${what}: chunk rank`);
        const width = body.u8(`${what}: chunk dimension width`);
        for (let i = 0; i < rank; i++) body.uint(width, `${what}: chunk dimension ${i}`);
        const index = body.u8(`${what}: chunk index type`);
        const name = CHUNK_INDEXES[index] ?? 'unknown';
        throw hdf5Error(`${what}: chunk index type ${index} (${name}) is not supported`);
      }
      const rank = body.u8(`${what}: chunk rank`);
      if (rank < 1 || rank > MAX_RANK + 1)
        throw hdf5Error(`${what}: chunk rank ${rank} is not between 1 and ${MAX_RANK + 1}`);
      const btreeAddress = body.address(`${what}: chunk B-tree address`);
      // The last dimension is the element size, not one of the dataset's.
      const chunkShape = Array.from({ length: rank }, (_, i) => body.u32(`${what}: chunk dimension ${i}`));
      return { kind: 'chunked', btreeAddress, chunkShape: chunkShape.slice(0, -1) };
    }
    default:
      throw hdf5Error(
        `${what}: data layout class ${layoutClass} (${layoutClass === 3 ? 'virtual' : 'unknown'}) is not supported`,
      );
  }
}

const FILTER_NAMES: Record<number, string> = {
  1: 'deflate',
  2: 'shuffle',
  3: 'fletcher32',
  4: 'szip',
  5: 'nbit',
  6: 'scaleoffset',
  32001: 'blosc',
  32004: 'lz4',
  32008: 'bitshuffle',
  32015: 'zstd',
};

/** The filters a dataset's data passes through, as "id (name)". */
export function readFilters(body: Cursor, what: string): string[] {
  const version = body.u8(`${what}: filter pipeline version`);
  const count = body.u8(`${what}: filter count`);
  if (version === 1) body.skip(6, `${what}: filter pipeline reserved bytes`);
  else if (version !== 2) throw hdf5Error(`${what}: filter pipeline version ${version} is not supported`);
  const filters: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = body.u16(`${what}: filter ${i} id`);
    const nameLength = version === 1 || id >= 256 ? body.u16(`${what}: filter ${i} name length`) : 0;
    body.u16(`${what}: filter ${i} flags`);
    const values = body.u16(`${what}: filter ${i} value count`);
    const nameBytes = body.slice(nameLength, `${what}: filter ${i} name`);
    if (version === 1) body.align(8);
    body.skip(4 * values, `${what}: filter ${i} values`);
    if (version === 1 && values % 2 === 1) body.skip(4, `${what}: filter ${i} padding`);
    const stored = new TextDecoder().decode(nameBytes).replace(/\0.*$/s, '');
    filters.push(`${id} (${FILTER_NAMES[id] ?? (stored || 'unknown')})`);
  }
  return filters;
}

// ---- attributes ----

export interface RawAttribute {
  name: string;
  datatype: Datatype;
  shape: number[] | null;
  data: Uint8Array;
}

export function readAttribute(body: Cursor, what: string): RawAttribute {
  const version = body.u8(`${what}: attribute version`);
  if (version < 1 || version > 3)
    throw hdf5Error(`${what}: attribute message version ${version} is not supported`);
  const flags = body.u8(`${what}: attribute flags`);
  if (version > 1 && flags & 0x03) throw hdf5Error(`${what}: attributes with shared types are not supported`);
  const nameSize = body.u16(`${what}: attribute name size`);
  const datatypeSize = body.u16(`${what}: attribute datatype size`);
  const dataspaceSize = body.u16(`${what}: attribute dataspace size`);
  if (version === 3) body.u8(`${what}: attribute name encoding`);
  const padded = (n: number) => (version === 1 ? Math.ceil(n / 8) * 8 : n);
  const name = new TextDecoder()
    .decode(body.slice(padded(nameSize), `${what}: attribute name`))
    .replace(/\0.*$/s, '');
  const named = `${what} attribute '${name}'`;
  const datatypeBytes = body.slice(padded(datatypeSize), `${named}: datatype`);
  const dataspaceBytes = body.slice(padded(dataspaceSize), `${named}: dataspace`);
  const sub = (bytes: Uint8Array) => new Cursor(bytes, 0, body.offsetSize, body.lengthSize);
  return {
    name,
    datatype: readDatatype(sub(datatypeBytes), named),
    shape: readDataspace(sub(dataspaceBytes), named),
    data: body.bytes.subarray(body.position),
  };
}

// ---- groups ----

/** A link message's name and target: only hard links (an object header address) are followed. */
export function readLink(body: Cursor, what: string): { name: string; address: number } {
  const version = body.u8(`${what}: link version`);
  if (version !== 1) throw hdf5Error(`${what}: link message version ${version} is not supported`);
  const flags = body.u8(`${what}: link flags`);
  const linkType = flags & 0x08 ? body.u8(`${what}: link type`) : 0;
  if (flags & 0x04) body.skip(8, `${what}: link creation order`);
  if (flags & 0x10) body.u8(`${what}: link name encoding`);
  const nameLength = body.uint(1 << (flags & 0x03), `${what}: link name length`);
  const name = new TextDecoder().decode(body.slice(nameLength, `${what}: link name`));
  if (linkType !== 0) {
    const kind = linkType === 1 ? 'soft' : linkType === 64 ? 'external' : `type ${linkType}`;
    throw hdf5Error(`${what}: link '${name}' is a ${kind} link, which is not supported`);
  }
  return { name, address: body.address(`${what}: link '${name}' address`) };
}

/** Whether a link info or attribute info message points at dense storage (a fractal heap). */
export function usesDenseStorage(body: Cursor, what: string, attributes: boolean): boolean {
  const version = body.u8(`${what}: info version`);
  if (version !== 0) throw hdf5Error(`${what}: info message version ${version} is not supported`);
  const flags = body.u8(`${what}: info flags`);
  if (flags & 0x01) body.skip(attributes ? 2 : 8, `${what}: maximum creation index`);
  return body.address(`${what}: fractal heap address`) !== UNDEFINED_ADDRESS;
}
