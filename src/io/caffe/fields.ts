/**
 * Typed reading of a prototxt message's fields (caffe.proto's types and defaults given by the caller), each error a
 * FormatError naming the layer and the field.
 */
import { FormatError } from '../../errors.js';
import type { TextMessage, TextValue } from './prototxt.js';

/** Sizes, counts and axes beyond this are refused: Caffe's own fields are int32 or uint32. */
const MAX_INTEGER = 2 ** 31 - 1;

export class Fields {
  constructor(
    private readonly fields: TextMessage,
    /** What errors name: "layer 'conv1' (Convolution) convolution_param". */
    readonly where: string,
  ) {}

  /** The same fields, named otherwise in errors. */
  named(where: string): Fields {
    return new Fields(this.fields, where);
  }

  fail(what: string): never {
    throw new FormatError(`Caffe ${this.where}: ${what}`);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.fields, name);
  }

  private values(name: string): TextValue[] {
    return Object.hasOwn(this.fields, name) ? this.fields[name] : [];
  }

  /** An optional scalar: the last value given wins, as protobuf merges repeated optional fields. */
  private last(name: string): TextValue | undefined {
    const values = this.values(name);
    return values[values.length - 1];
  }

  private asNumber(name: string, value: TextValue): number {
    if (typeof value !== 'number') this.fail(`${name} ${describe(value)} is not a number`);
    return value;
  }

  private asInteger(name: string, value: TextValue, min: number): number {
    const n = this.asNumber(name, value);
    if (!Number.isInteger(n) || n < min || n > MAX_INTEGER)
      this.fail(`${name} ${n} is not an integer in [${min}, ${MAX_INTEGER}]`);
    return n;
  }

  number(name: string, fallback: number): number {
    const value = this.last(name);
    return value === undefined ? fallback : this.asNumber(name, value);
  }

  /** An integer field; required when no fallback is given. */
  integer(name: string, fallback: number | undefined, min = 0): number {
    const value = this.last(name);
    if (value === undefined) {
      if (fallback === undefined) this.fail(`${name} is required`);
      return fallback;
    }
    return this.asInteger(name, value, min);
  }

  integers(name: string, min = 0): number[] {
    return this.values(name).map((v) => this.asInteger(name, v, min));
  }

  numbers(name: string): number[] {
    return this.values(name).map((v) => this.asNumber(name, v));
  }

  string(name: string, fallback: string): string {
    const value = this.last(name);
    if (value === undefined) return fallback;
    if (typeof value !== 'string') this.fail(`${name} ${describe(value)} is not a string`);
    return value;
  }

  strings(name: string): string[] {
    return this.values(name).map((v) => {
      if (typeof v !== 'string') this.fail(`${name} ${describe(v)} is not a string`);
      return v;
    });
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.last(name);
    if (value === undefined) return fallback;
    if (value === 'true' || value === 'True' || value === 't' || value === 1) return true;
    if (value === 'false' || value === 'False' || value === 'f' || value === 0) return false;
    this.fail(`${name} ${describe(value)} is not true or false`);
  }

  /** An enum field, by its name or number; `names` lists the enum's values in number order. */
  enumeration(name: string, names: readonly string[], fallback: string): string {
    const value = this.last(name);
    if (value === undefined) return fallback;
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < names.length)
      return names[value];
    if (typeof value === 'string' && names.includes(value)) return value;
    this.fail(`${name} ${describe(value)} is not one of ${names.join(', ')}`);
  }

  /** An optional message field (empty when absent, so its fields take their defaults). */
  message(name: string): Fields {
    const value = this.last(name) ?? (Object.create(null) as TextMessage);
    if (typeof value !== 'object') this.fail(`${name} ${describe(value)} is not a message`);
    return new Fields(value, `${this.where} ${name}`);
  }

  messages(name: string, where: (index: number) => string): Fields[] {
    return this.values(name).map((value, i) => {
      if (typeof value !== 'object') this.fail(`${name} ${describe(value)} is not a message`);
      return new Fields(value, where(i));
    });
  }
}

function describe(value: TextValue): string {
  if (typeof value === 'object') return '{…}';
  return typeof value === 'string' ? `'${value.slice(0, 40)}'` : String(value);
}
