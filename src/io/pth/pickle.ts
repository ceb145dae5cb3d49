import { FormatError } from '../../errors.js';

/**
 * A reader for the subset of Python's pickle format that PyTorch state dicts use (protocols 2 to 4). It builds
 * plain values and calls only the functions a caller allows by name: it never executes anything a file names.
 * Every opcode outside the subset, and every global outside the allow-list, is a FormatError naming it and its
 * offset. Each opcode consumes at least one byte, so the work is bounded by the input's size, and what the values
 * cost is counted as they are made, so a small pickle cannot build gigabytes of them.
 */

/**
 * What unpickling may build, in estimated bytes of JavaScript values (measured on Node 20: an empty dict with its Map
 * about 275, a tuple about 120, a stack slot or number 8 to 16, a memo entry about 40). A state dict's pickle costs
 * about 2 KB a tensor, so this admits over 100,000 tensors, while a pickle of a byte-long opcode repeated (EMPTY_DICT,
 * MEMOIZE) stops here instead of exhausting the heap.
 */
const MAX_PICKLE_VALUE_BYTES = 256 * 2 ** 20;
const VALUE_COST = 16;
const CONTAINER_COST = 128;
const DICT_COST = 320;
const MEMO_COST = 48;

/** A Python tuple (lists are JavaScript arrays). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict or OrderedDict, in insertion order. Attributes set by BUILD (OrderedDict's `_metadata`) are kept apart. */
export class PyDict {
  readonly items = new Map<PyKey, PyValue>();
  attributes: PyDict | null = null;
}

/** A global the allow-list admits, such as torch.FloatStorage, used as a value rather than called. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A value a caller's function or persistent-load hook made (a storage, a tensor reference). */
export abstract class PyObject {
  abstract readonly typeName: string;
}

export type PyKey = string | number | bigint | boolean | null;
export type PyValue = PyKey | PyValue[] | PyTuple | PyDict | PyGlobal | PyObject;

/** A callable global: receives REDUCE's arguments; `where` names the position for error messages. */
export type Reducer = (args: PyValue[], where: string) => PyValue;

export interface UnpickleOptions {
  /** Allowed globals by 'module.name': a function REDUCE may call, or null for a global only passed around. */
  globals: ReadonlyMap<string, Reducer | null>;
  /** Resolves BINPERSID's identifiers (torch's storage references); absent, BINPERSID is an error. */
  persistentLoad?: (pid: PyValue, where: string) => PyValue;
  /** The name errors give the pickle ('data.pkl'). */
  name: string;
  /** Where in `bytes` the pickle starts (a legacy .pth file is several pickles in a row). */
  start?: number;
}

// prettier-ignore
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

/** How a value reads in an error message. */
export function describe(value: PyValue): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'list';
  if (value instanceof PyTuple) return `tuple of ${value.items.length}`;
  if (value instanceof PyDict) return 'dict';
  if (value instanceof PyGlobal) return value.qualifiedName;
  if (value instanceof PyObject) return value.typeName;
  return typeof value === 'string'
    ? `str '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`
    : `${typeof value} ${String(value)}`;
}

function isKey(value: PyValue): value is PyKey {
  return value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value);
}

/** A little-endian two's-complement integer of n bytes (LONG1), as a number when exactly representable. */
function longFromBytes(bytes: Uint8Array): number | bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  if (bytes.length > 0 && bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(8 * bytes.length);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

/** Unpickles one pickle from `bytes`; returns its value and the offset just past its STOP. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): { value: PyValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let at = options.start ?? 0;
  let opcodeAt = at;
  let opcodeName = '';
  let cost = 0;

  const where = (): string => `${options.name} offset ${opcodeAt} (${opcodeName})`;
  const fail = (message: string): never => {
    throw new FormatError(`pickle: ${where()}: ${message}`);
  };
  /** Counts what a new value costs before it is made. */
  const charge = (bytes: number): void => {
    cost += bytes;
    if (cost > MAX_PICKLE_VALUE_BYTES) {
      fail(
        `the pickle builds more than ${MAX_PICKLE_VALUE_BYTES} bytes of values (a state dict needs about 2 KB a tensor)`,
      );
    }
  };
  /** Pushes a value made by the opcode, charged at `bytes`. */
  const push = (value: PyValue, bytes = VALUE_COST): void => {
    charge(bytes);
    stack.push(value);
  };
  const need = (n: number): number => {
    if (n < 0 || at + n > bytes.length) fail(`needs ${n} more bytes, the data ends at ${bytes.length}`);
    const start = at;
    at += n;
    return start;
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]))
      fail('the stack is empty');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]))
      fail('the stack is empty');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const mark = marks.pop();
    if (mark === undefined) fail('no MARK to pop to');
    return stack.splice(mark as number);
  };
  const text = (n: number): string => {
    const start = need(n);
    charge(n);
    try {
      return decoder.decode(bytes.subarray(start, start + n));
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('line has no end');
    charge(end - at);
    const s = new TextDecoder('latin1').decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const global = (module: string, name: string): PyGlobal => {
    const qualified = `${module}.${name}`;
    if (!options.globals.has(qualified)) {
      fail(
        `global '${qualified}' is not allowed; convnets never runs code from a file and admits only ${[...options.globals.keys()].join(', ')}`,
      );
    }
    return new PyGlobal(module, name);
  };
  const setItems = (dict: PyValue, items: PyValue[]): void => {
    if (!(dict instanceof PyDict)) return fail(`cannot set items on ${describe(dict)}`);
    if (items.length % 2 !== 0) fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (!isKey(key)) fail(`dict key ${describe(key)} is not supported (strings and numbers are)`);
      dict.items.set(key as PyKey, items[i + 1]);
    }
  };
  const append = (list: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(list)) return fail(`cannot append to ${describe(list)}`);
    for (const item of items) list.push(item);
  };
  const memoIndex = (index: number): void => {
    charge(MEMO_COST);
    memo.set(index, top());
  };

  for (;;) {
    opcodeAt = at;
    opcodeName = 'opcode';
    if (at >= bytes.length) fail('the data ends before STOP');
    const opcode = bytes[need(1)];
    opcodeName = OPCODE_NAMES[opcode] ?? `0x${opcode.toString(16).padStart(2, '0')}`;
    switch (opcode) {
      case 0x80: {
        const protocol = bytes[need(1)];
        if (protocol > 5) fail(`protocol ${protocol} is unknown`);
        break;
      }
      case 0x95: // FRAME: a length hint for buffered reading; the data is all here already.
        need(8);
        break;
      case 0x7d:
        push(new PyDict(), DICT_COST);
        break;
      case 0x5d:
        push([], CONTAINER_COST);
        break;
      case 0x29:
        push(new PyTuple([]), CONTAINER_COST);
        break;
      case 0x28:
        charge(VALUE_COST);
        marks.push(stack.length);
        break;
      case 0x58:
        push(text(view.getUint32(need(4), true)));
        break;
      case 0x8c:
        push(text(bytes[need(1)]));
        break;
      case 0x4a:
        push(view.getInt32(need(4), true));
        break;
      case 0x4b:
        push(bytes[need(1)]);
        break;
      case 0x4d:
        push(view.getUint16(need(2), true));
        break;
      case 0x8a: {
        const n = bytes[need(1)];
        const start = need(n);
        push(longFromBytes(bytes.subarray(start, start + n)));
        break;
      }
      case 0x47:
        push(view.getFloat64(need(8), false)); // BINFLOAT is big-endian
        break;
      case 0x4e:
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const items: PyValue[] = [];
        for (let i = 0; i < opcode - 0x84; i++) items.unshift(pop());
        push(new PyTuple(items), CONTAINER_COST);
        break;
      }
      case 0x74:
        push(new PyTuple(popMark()), CONTAINER_COST);
        break;
      case 0x73: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        const value = pop();
        append(top(), [value]);
        break;
      }
      case 0x65: {
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x71:
        memoIndex(bytes[need(1)]);
        break;
      case 0x72:
        memoIndex(view.getUint32(need(4), true));
        break;
      case 0x94:
        memoIndex(memo.size);
        break;
      case 0x68:
      case 0x6a: {
        const index = opcode === 0x68 ? bytes[need(1)] : view.getUint32(need(4), true);
        if (!memo.has(index)) fail(`memo entry ${index} was never stored`);
        push(memo.get(index) as PyValue);
        break;
      }
      case 0x63: {
        const module = line();
        push(global(module, line()), CONTAINER_COST);
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('module and name are not strings');
        push(global(module as string, name as string), CONTAINER_COST);
        break;
      }
      case 0x52: {
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PyGlobal)) return fail(`cannot call ${describe(callable)}`);
        if (!(args instanceof PyTuple)) return fail(`arguments are ${describe(args)}, not a tuple`);
        const reducer = options.globals.get(callable.qualifiedName);
        if (!reducer) return fail(`'${callable.qualifiedName}' cannot be called`);
        push(reducer(args.items, where()), CONTAINER_COST);
        break;
      }
      case 0x62: {
        const state = pop();
        const target = top();
        // OrderedDict's instance attributes: torch keeps `_metadata` (per-module versions) there; no values in it.
        if (!(target instanceof PyDict) || !(state instanceof PyDict)) {
          fail(`cannot set the state of ${describe(target)} from ${describe(state)}`);
        }
        (target as PyDict).attributes = state as PyDict;
        break;
      }
      case 0x51: {
        const pid = pop();
        if (options.persistentLoad === undefined) fail('persistent references are not expected here');
        push(options.persistentLoad!(pid, where()), CONTAINER_COST);
        break;
      }
      case 0x2e: {
        const value = pop();
        if (stack.length > 0 || marks.length > 0) fail('values are left on the stack');
        return { value, end: at };
      }
      default:
        fail('opcode is outside the subset convnets reads (PyTorch state dicts)');
    }
  }
}
