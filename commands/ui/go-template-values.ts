/** Values as Go's text/template sees the JSON that `encoding/json` decodes: lookup, truth, printing, functions. */
import { invalid, missing, type Value } from './go-template-syntax.js';

export function isObject(value: Value): value is Record<string, Value> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value.name`, own properties only; missing stays missing (`<no value>`), as Go's default missingkey. */
export function fieldOf(value: Value, name: string): Value {
  if (value === missing) return missing;
  if (value === null) throw invalid(`nil pointer evaluating interface {}.${name}`);
  if (!isObject(value)) throw invalid(`can't evaluate field ${name} in ${describe(value)}`);
  return Object.hasOwn(value, name) ? value[name] : missing;
}

export function describe(value: Value): string {
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

export function sortedKeys(value: Record<string, Value>): string[] {
  return Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Go's truth: false, 0, nil, empty strings, lists and maps are false. */
export function isTrue(value: Value): boolean {
  if (value === missing || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return true;
}

export function callFunction(name: string, args: Value[]): Value {
  const one = (): Value => {
    if (args.length !== 1) throw invalid(`wrong number of args for ${name}: want 1 got ${args.length}`);
    return args[0];
  };
  switch (name) {
    case 'json':
    case 'toJson':
      return goJson(one());
    case 'len': {
      const value = one();
      if (typeof value === 'string') return Buffer.byteLength(value);
      if (Array.isArray(value)) return value.length;
      if (isObject(value)) return Object.keys(value).length;
      throw invalid(`len of ${describe(value)}`);
    }
    case 'not':
      return !isTrue(one());
    case 'and':
    case 'or': {
      if (args.length === 0) throw invalid(`wrong number of args for ${name}`);
      for (const arg of args) if (isTrue(arg) === (name === 'or')) return arg;
      return args[args.length - 1];
    }
    case 'eq':
    case 'ne': {
      if (args.length < 2) throw invalid(`missing argument for comparison`);
      const [first, ...others] = args;
      for (const arg of [first, ...others]) {
        if (typeof arg === 'object' && arg !== null) throw invalid(`${name}: cannot compare ${describe(arg)}`);
      }
      const equal = others.some((other) => other === first);
      return name === 'eq' ? equal : !equal;
    }
    case 'index': {
      const keys = args.slice(1);
      let value = args[0];
      for (const key of keys) {
        if (Array.isArray(value) && typeof key === 'number') {
          if (!Number.isInteger(key) || key < 0 || key >= value.length) throw invalid(`index out of range: ${key}`);
          value = value[key];
        } else if (isObject(value) && typeof key === 'string') {
          value = Object.hasOwn(value, key) ? value[key] : null;
        } else if (value === missing || value === null) {
          throw invalid('index of untyped nil');
        } else {
          throw invalid(`can't index ${describe(value)} with ${describe(key)}`);
        }
      }
      return value;
    }
    default:
      throw invalid(`function "${name}" not defined`);
  }
}

/** An action's value as Go's template prints it: a missing or nil value is `<no value>`. */
export function printTop(value: Value): string {
  if (value === missing || value === null) return '<no value>';
  return goPrint(value);
}

/** Go's `%v` of a value `encoding/json` decoded into `interface{}`. */
export function goPrint(value: Value): string {
  if (value === missing) return '<no value>';
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return goFloat(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map((element: Value) => goPrint(element)).join(' ')}]`;
  if (isObject(value)) return `map[${sortedKeys(value).map((key) => `${key}:${goPrint(value[key])}`).join(' ')}]`;
  return '';
}

/** Go's `%v` of a float64: shortest digits, exponent form from 1e+06 up and below 1e-4 (`2e+06`, `1.5e-05`). */
export function goFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const [mantissa = '', exponentText = '0'] = value.toExponential().split('e');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return String(value);
}

/** Go's `json.Marshal` of a decoded value: compact, map keys sorted, `<`, `>`, `&` escaped. */
export function goJson(value: Value): string {
  return JSON.stringify(sortDeep(value === missing ? null : value)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sortDeep(value: Value): Value {
  if (Array.isArray(value)) return value.map((element: Value) => sortDeep(element));
  if (isObject(value)) {
    const sorted: Record<string, Value> = {};
    for (const key of sortedKeys(value)) Object.defineProperty(sorted, key, { value: sortDeep(value[key]), enumerable: true, writable: true, configurable: true });
    return sorted;
  }
  return value;
}
