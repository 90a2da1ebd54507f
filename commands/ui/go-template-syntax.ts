/** The syntax tree of the Go-template subset (see `go-template.ts`), and what parsing and evaluation share. */
import { StowageError } from '../../src/index.js';

/** A field or value that does not exist: Go's invalid reflect.Value, printed `<no value>`. */
export const missing: unique symbol = Symbol('no value');
export type Value = unknown;

export type Operand =
  | { kind: 'field'; root: 'dot' | 'var'; variable: string; path: string[] }
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'function'; name: string }
  | { kind: 'pipeline'; pipeline: Pipeline };

export interface Pipeline {
  /** Variables declared with `:=` (one, or two in a range). */
  declare: string[];
  commands: Operand[][];
}

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline }
  | { kind: 'if' | 'with'; pipeline: Pipeline; body: Node[]; otherwise: Node[] }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; otherwise: Node[] };

export const functions = new Set(['json', 'toJson', 'index', 'len', 'not', 'and', 'or', 'eq', 'ne']);
export const keywords = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'nil', 'true', 'false']);

export function invalid(message: string): StowageError {
  return new StowageError('INVALID_ARGUMENT', `invalid --template: ${message}`);
}
