/**
 * Protocol Buffers' text format (https://protobuf.dev/reference/protobuf/textformat-spec/), as Caffe writes network
 * definitions (.prototxt): fields `name: value` or `name { … }`, repeated by repetition or as `[a, b]` lists, quoted
 * strings with C escapes, numbers, enum identifiers and `#` comments. Without the schema the text cannot say which
 * fields repeat, so every field of a message is a list of its values, in order.
 */
import { FormatError } from '../../errors.js';

/** A scalar (a quoted string, a number, or an identifier: an enum value, true or false) or a nested message. */
export type TextValue = string | number | TextMessage;

/** One message of the text format: each field's values in the order given. */
export interface TextMessage {
  [field: string]: TextValue[];
}

/** Nesting deeper than this is refused rather than followed (Caffe's networks nest three or four levels). */
const MAX_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();
const SIMPLE_ESCAPES: Record<string, number> = {
  n: 10,
  t: 9,
  r: 13,
  a: 7,
  b: 8,
  f: 12,
  v: 11,
  '\\': 92,
  "'": 39,
  '"': 34,
  '?': 63,
};
const NAMED_NUMBERS: Record<string, number> = { inf: Infinity, infinity: Infinity, nan: NaN };

class TextParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  fail(what: string, at = this.pos): never {
    const before = this.text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    throw new FormatError(`prototxt line ${line}, column ${column}: ${what}`);
  }

  /** Skips whitespace and comments; the next character, or '' at the end. */
  private peek(): string {
    for (;;) {
      const c = this.text[this.pos];
      if (c === '#') {
        const end = this.text.indexOf('\n', this.pos);
        this.pos = end < 0 ? this.text.length : end + 1;
      } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') this.pos++;
      else return c ?? '';
    }
  }

  private accept(c: string): boolean {
    if (this.peek() !== c) return false;
    this.pos++;
    return true;
  }

  private expect(c: string, what: string): void {
    if (!this.accept(c)) this.fail(`expected '${c}' ${what}, found ${this.describeNext()}`);
  }

  private describeNext(): string {
    const c = this.peek();
    return c === '' ? 'the end of the text' : `'${this.text.slice(this.pos, this.pos + 12).split('\n')[0]}'`;
  }

  private identifier(): string | null {
    this.peek();
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos, this.pos + 256));
    if (match === null) return null;
    this.pos += match[0].length;
    return match[0];
  }

  /** A message's fields up to `close` ('}' or '>'), or to the end of the text for the outermost one. */
  message(close: string, depth: number): TextMessage {
    if (depth > MAX_DEPTH) this.fail(`messages nested deeper than ${MAX_DEPTH}`);
    const out: TextMessage = Object.create(null) as TextMessage;
    for (;;) {
      const c = this.peek();
      if (c === close) {
        if (close !== '') this.pos++;
        return out;
      }
      if (c === '') this.fail(`the text ends inside a message (expected '${close}')`);
      if (c === '[') this.fail('extension and Any fields ([…]) are not read');
      const start = this.pos;
      const name = this.identifier();
      if (name === null) this.fail(`expected a field name, found ${this.describeNext()}`);
      const values = (out[name] ??= []);
      const colon = this.accept(':');
      const next = this.peek();
      if (next === '{' || next === '<') {
        this.pos++;
        values.push(this.message(next === '{' ? '}' : '>', depth + 1));
      } else if (!colon) this.fail(`field '${name}': expected ':' or '{'`, start);
      else if (this.accept('[')) {
        if (!this.accept(']')) {
          do {
            values.push(this.listElement(name, depth));
          } while (this.accept(','));
          this.expect(']', `closing the list of '${name}'`);
        }
      } else values.push(this.scalar(name));
      if (!this.accept(';')) this.accept(',');
    }
  }

  private listElement(name: string, depth: number): TextValue {
    const c = this.peek();
    if (c === '{' || c === '<') {
      this.pos++;
      return this.message(c === '{' ? '}' : '>', depth + 1);
    }
    return this.scalar(name);
  }

  private scalar(field: string): TextValue {
    const c = this.peek();
    if (c === '"' || c === "'") {
      let value = this.quoted();
      // Adjacent strings concatenate, as in C.
      while (this.peek() === '"' || this.peek() === "'") value += this.quoted();
      return value;
    }
    const start = this.pos;
    const negative = this.accept('-');
    const word = /^(0[xX][0-9A-Fa-f]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fF]?|[A-Za-z_][A-Za-z0-9_]*)/.exec(
      this.text.slice(this.pos, this.pos + 512),
    );
    if (word === null) this.fail(`field '${field}': expected a value, found ${this.describeNext()}`);
    this.pos += word[0].length;
    const token = word[0];
    let value: number;
    if (/^[A-Za-z_]/.test(token)) {
      const named = NAMED_NUMBERS[token.toLowerCase()];
      if (named === undefined) {
        if (negative) this.fail(`field '${field}': '-${token}' is not a number`, start);
        return token;
      }
      value = named;
    } else value = Number(token.replace(/[fF]$/, '').replace(/^0[xX]/, '0x'));
    if (Number.isNaN(value) && !/nan/i.test(token))
      this.fail(`field '${field}': bad number '${token}'`, start);
    return negative ? -value : value;
  }

  /** A quoted string with C escapes (octal and hex escapes are bytes, read as UTF-8 with the rest). */
  private quoted(): string {
    const quote = this.text[this.pos];
    const start = this.pos++;
    const bytes: number[] = [];
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined || c === '\n') this.fail('unterminated string', start);
      if (c === quote) return utf8.decode(Uint8Array.from(bytes));
      if (c !== '\\') {
        bytes.push(...utf8Encoder.encode(c));
        continue;
      }
      const e = this.text[this.pos++] ?? '';
      const octal = /^[0-7]{1,3}/.exec(this.text.slice(this.pos - 1, this.pos + 2));
      const hex = /^[0-9A-Fa-f]{1,2}/.exec(this.text.slice(this.pos, this.pos + 2));
      if (e in SIMPLE_ESCAPES) bytes.push(SIMPLE_ESCAPES[e]);
      else if (octal !== null) {
        bytes.push(parseInt(octal[0], 8) & 0xff);
        this.pos += octal[0].length - 1;
      } else if ((e === 'x' || e === 'X') && hex !== null) {
        bytes.push(parseInt(hex[0], 16));
        this.pos += hex[0].length;
      } else this.fail(`bad escape '\\${e}' in a string`, this.pos - 2);
    }
  }
}

/**
 * Parses protobuf text format (a Caffe .prototxt) into plain objects: each field's values as a list, nested messages
 * as objects, enum values as their names. A syntax error is a FormatError naming the line and column.
 */
export function parsePrototxt(text: string): TextMessage {
  if (typeof text !== 'string') throw new FormatError('prototxt: expected text');
  return new TextParser(text).message('', 0);
}
