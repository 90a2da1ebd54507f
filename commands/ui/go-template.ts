/**
 * A small, safe subset of Go's text/template, evaluated over the JSON document a command prints with
 * `--format json` (what ORAS's `--format go-template` does). Supported: text; `{{.}}`, `{{.a.b}}`, `{{$}}`,
 * `{{$x.a}}`; string, number and boolean literals; pipelines (`{{.x | json}}`); `{{if}}`/`{{else if}}`/`{{else}}`,
 * `{{range}}` (with `$i, $e :=` and `{{else}}`), `{{with}}`; `{{$x := ...}}`; `{{/* comments *\/}}`; `{{-` and `-}}`
 * trimming; the functions `json` and `toJson` (compact JSON, as sprig's `toJson` that ORAS offers), `index`,
 * `len`, `not`, `and`, `or`, `eq`, `ne`.
 *
 * Values are printed as Go prints the `map[string]interface{}` that `encoding/json` decodes: numbers are
 * float64 (`2e+06`), objects `map[k:v]` with sorted keys, lists `[a b]`, a missing field `<no value>`.
 * Fields are looked up as own properties only, so `.constructor` or `.__proto__` reach nothing.
 */
import { StowageError } from '../../src/index.js';

/** A field or value that does not exist: Go's invalid reflect.Value, printed `<no value>`. */
const missing: unique symbol = Symbol('no value');
type Value = unknown;

type Operand =
  | { kind: 'field'; root: 'dot' | 'var'; variable: string; path: string[] }
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'function'; name: string }
  | { kind: 'pipeline'; pipeline: Pipeline };

interface Pipeline {
  /** Variables declared with `:=` (one, or two in a range). */
  declare: string[];
  commands: Operand[][];
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline }
  | { kind: 'if' | 'with'; pipeline: Pipeline; body: Node[]; otherwise: Node[] }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; otherwise: Node[] };

const functions = new Set(['json', 'toJson', 'index', 'len', 'not', 'and', 'or', 'eq', 'ne']);
const keywords = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'nil', 'true', 'false']);

function invalid(message: string): StowageError {
  return new StowageError('INVALID_ARGUMENT', `invalid --template: ${message}`);
}

/** A parsed template; {@link GoTemplate.execute} renders it over one JSON document. */
export class GoTemplate {
  private constructor(private readonly nodes: Node[]) {}

  /**
   * Parses `source`.
   * @throws StowageError INVALID_ARGUMENT on bad syntax, an unclosed action or block, or an unknown function.
   */
  static parse(source: string): GoTemplate {
    return new GoTemplate(new Parser(source).parseAll());
  }

  /**
   * Renders the template over `document`, taken as its JSON form (what `--format json` prints).
   * @throws StowageError INVALID_ARGUMENT when a field is taken of a value that has none, or a range is over a non-list.
   */
  execute(document: unknown): string {
    // JSON.stringify gives undefined for undefined and functions, whatever its declared type says.
    const json = JSON.stringify(document) as string | undefined;
    const data: Value = json === undefined ? null : (JSON.parse(json) as Value);
    const out: string[] = [];
    new Evaluator(data, out).run(this.nodes, data, new Map([['$', data]]));
    return out.join('');
  }
}

/** Parses and renders in one step. */
export function renderGoTemplate(source: string, document: unknown): string {
  return GoTemplate.parse(source).execute(document);
}

// ---------- parsing ----------

type Token =
  | { kind: 'field'; path: string[] }
  | { kind: 'variable'; name: string; path: string[] }
  | { kind: 'identifier'; name: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'punct'; value: '|' | ':=' | ',' | '(' | ')' | '=' };

interface Action {
  tokens: Token[];
}

type Item = { kind: 'text'; text: string } | { kind: 'action'; action: Action };

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const identifierStart = /[A-Za-z_]/;
const identifierPart = /[A-Za-z0-9_]/;

class Parser {
  private items: Item[] = [];
  private position = 0;

  constructor(private readonly source: string) {}

  parseAll(): Node[] {
    this.items = this.lex();
    const [nodes, stop] = this.parseList();
    if (stop !== undefined) throw invalid(`unexpected {{${stop}}}`);
    return nodes;
  }

  /** Splits the source into text and actions, applying `{{-` and `-}}` trimming. */
  private lex(): Item[] {
    const items: Item[] = [];
    const src = this.source;
    let at = 0;
    let trimNext = false;
    while (at <= src.length) {
      const open = src.indexOf('{{', at);
      let text = open === -1 ? src.slice(at) : src.slice(at, open);
      if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
      trimNext = false;
      if (open === -1) {
        if (text !== '') items.push({ kind: 'text', text });
        break;
      }
      let start = open + 2;
      if (src[start] === '-' && isSpace(src[start + 1])) {
        text = text.replace(/[ \t\r\n]+$/, '');
        start += 2;
      }
      if (text !== '') items.push({ kind: 'text', text });
      // A comment: {{/* ... */}}, possibly with trim markers.
      let scan = start;
      while (isSpace(src[scan])) scan++;
      if (src.startsWith('/*', scan)) {
        const close = src.indexOf('*/', scan + 2);
        if (close === -1) throw invalid('unclosed comment');
        let end = close + 2;
        if (src.startsWith(' -}}', end)) {
          trimNext = true;
          end += 4;
        } else if (src.startsWith('}}', end)) end += 2;
        else throw invalid('comment ends before closing delimiter');
        at = end;
        continue;
      }
      const { tokens, end, trim } = this.lexAction(start);
      trimNext = trim;
      items.push({ kind: 'action', action: { tokens } });
      at = end;
    }
    return items;
  }

  private lexAction(start: number): { tokens: Token[]; end: number; trim: boolean } {
    const src = this.source;
    const tokens: Token[] = [];
    let at = start;
    for (;;) {
      if (at >= src.length) throw invalid('unclosed action');
      const c = src[at] ?? '';
      if (isSpace(c)) {
        if (src.startsWith('-}}', at + 1)) return { tokens, end: at + 4, trim: true };
        at++;
        continue;
      }
      if (src.startsWith('}}', at)) return { tokens, end: at + 2, trim: false };
      if (c === '"' || c === '`') {
        const [value, end] = c === '"' ? readQuoted(src, at) : readRaw(src, at);
        tokens.push({ kind: 'string', value });
        at = end;
        continue;
      }
      if (c === '.' || c === '$') {
        let name = '';
        let end = at;
        if (c === '$') {
          end++;
          while (end < src.length && identifierPart.test(src[end] ?? '')) end++;
          name = src.slice(at, end);
        }
        const path: string[] = [];
        // `.` alone is dot; `.a.b` is a chain.
        while (src[end] === '.') {
          let stop = end + 1;
          while (stop < src.length && identifierPart.test(src[stop] ?? '')) stop++;
          const field = src.slice(end + 1, stop);
          if (field === '') {
            if (c === '.' && path.length === 0 && end === at) {
              end = stop;
              break;
            }
            throw invalid(`bad field name after "${src.slice(at, stop)}"`);
          }
          path.push(field);
          end = stop;
        }
        tokens.push(c === '$' ? { kind: 'variable', name, path } : { kind: 'field', path });
        at = end;
        continue;
      }
      if (/[0-9-]/.test(c)) {
        const match = /^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(at));
        if (match === null) throw invalid(`unexpected "${c}" in action`);
        tokens.push({ kind: 'number', value: Number(match[0]) });
        at += match[0].length;
        continue;
      }
      if (identifierStart.test(c)) {
        let end = at + 1;
        while (end < src.length && identifierPart.test(src[end] ?? '')) end++;
        tokens.push({ kind: 'identifier', name: src.slice(at, end) });
        at = end;
        continue;
      }
      if (src.startsWith(':=', at)) {
        tokens.push({ kind: 'punct', value: ':=' });
        at += 2;
        continue;
      }
      if (c === '|' || c === ',' || c === '(' || c === ')' || c === '=') {
        tokens.push({ kind: 'punct', value: c });
        at++;
        continue;
      }
      throw invalid(`unexpected "${c}" in action`);
    }
  }

  /** Nodes up to `{{end}}` or `{{else ...}}` (returned as the stop word) or the end of input (undefined). */
  private parseList(): [Node[], string | undefined, Token[]] {
    const nodes: Node[] = [];
    while (this.position < this.items.length) {
      const item = this.items[this.position++];
      if (item === undefined) break;
      if (item.kind === 'text') {
        nodes.push({ kind: 'text', text: item.text });
        continue;
      }
      const tokens = item.action.tokens;
      const first = tokens[0];
      if (first === undefined) throw invalid('missing value for command');
      if (first.kind === 'identifier' && keywords.has(first.name) && first.name !== 'true' && first.name !== 'false' && first.name !== 'nil') {
        switch (first.name) {
          case 'end':
            if (tokens.length > 1) throw invalid('unexpected words after {{end}}');
            return [nodes, 'end', []];
          case 'else':
            return [nodes, 'else', tokens.slice(1)];
          case 'if':
          case 'with':
          case 'range':
            nodes.push(this.parseBlock(first.name, tokens.slice(1)));
            continue;
          default:
            throw invalid(`{{${first.name}}} is not supported`);
        }
      }
      nodes.push({ kind: 'action', pipeline: parsePipeline(tokens) });
    }
    return [nodes, undefined, []];
  }

  private parseBlock(kind: 'if' | 'with' | 'range', tokens: Token[]): Node {
    if (tokens.length === 0) throw invalid(`missing value for ${kind}`);
    const pipeline = parsePipeline(tokens);
    if (pipeline.declare.length > (kind === 'range' ? 2 : 1)) throw invalid(`too many declarations in ${kind}`);
    const [body, stop, rest] = this.parseList();
    if (stop === undefined) throw invalid(`unexpected EOF: {{${kind}}} has no {{end}}`);
    let otherwise: Node[] = [];
    if (stop === 'else') {
      const next = rest[0];
      if (next?.kind === 'identifier' && (next.name === 'if' || next.name === 'with') && kind !== 'range') {
        // {{else if ...}}: an if nested in the else, sharing this block's {{end}}.
        otherwise = [this.parseBlock(next.name, rest.slice(1))];
      } else {
        if (rest.length > 0) throw invalid('unexpected words after {{else}}');
        const [elseBody, elseStop] = this.parseList();
        if (elseStop !== 'end') throw invalid(elseStop === undefined ? `unexpected EOF: {{${kind}}} has no {{end}}` : 'expected {{end}} after {{else}}');
        otherwise = elseBody;
      }
    }
    return { kind, pipeline, body, otherwise };
  }
}

function readQuoted(src: string, start: number): [string, number] {
  let at = start + 1;
  let value = '';
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
  while (at < src.length) {
    const c = src[at] ?? '';
    if (c === '"') return [value, at + 1];
    if (c === '\n') break;
    if (c === '\\') {
      const e = src[at + 1] ?? '';
      const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      if (hex > 0) {
        const digits = src.slice(at + 2, at + 2 + hex);
        if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== hex) throw invalid(`bad escape "\\${e}${digits}" in string`);
        value += String.fromCodePoint(Number.parseInt(digits, 16));
        at += 2 + hex;
        continue;
      }
      const replacement = Object.hasOwn(simple, e) ? simple[e] : undefined;
      if (replacement === undefined) throw invalid(`unknown escape "\\${e}" in string`);
      value += replacement;
      at += 2;
      continue;
    }
    value += c;
    at++;
  }
  throw invalid('unterminated quoted string');
}

function readRaw(src: string, start: number): [string, number] {
  const close = src.indexOf('`', start + 1);
  if (close === -1) throw invalid('unterminated raw quoted string');
  return [src.slice(start + 1, close), close + 1];
}

function parsePipeline(tokens: Token[]): Pipeline {
  let rest = tokens;
  const declare: string[] = [];
  const assign = rest.findIndex((t) => t.kind === 'punct' && t.value === ':=');
  if (assign !== -1) {
    const names = rest.slice(0, assign);
    for (let i = 0; i < names.length; i++) {
      const token = names[i];
      if (i % 2 === 1) {
        if (token?.kind !== 'punct' || token.value !== ',') throw invalid('bad variable declaration');
        continue;
      }
      if (token?.kind !== 'variable' || token.path.length > 0 || token.name === '$') throw invalid('bad variable declaration');
      declare.push(token.name);
    }
    if (declare.length === 0 || names.length % 2 === 0) throw invalid('bad variable declaration');
    rest = rest.slice(assign + 1);
  }
  const commands: Operand[][] = [];
  let current: Operand[] = [];
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i];
    if (token === undefined) break;
    if (token.kind === 'punct') {
      if (token.value === '|') {
        if (current.length === 0) throw invalid('missing command before "|"');
        commands.push(current);
        current = [];
        continue;
      }
      if (token.value === '(') {
        // A parenthesised pipeline as an operand.
        let depth = 1;
        let end = i + 1;
        for (; end < rest.length; end++) {
          const t = rest[end];
          if (t?.kind === 'punct' && t.value === '(') depth++;
          if (t?.kind === 'punct' && t.value === ')' && --depth === 0) break;
        }
        if (depth !== 0) throw invalid('unclosed left paren');
        current.push({ kind: 'pipeline', pipeline: parsePipeline(rest.slice(i + 1, end)) });
        i = end;
        continue;
      }
      throw invalid(`unexpected "${token.value}" in operand`);
    }
    current.push(operandOf(token));
  }
  if (current.length === 0) throw invalid(commands.length > 0 ? 'missing command after "|"' : 'missing value for command');
  commands.push(current);
  for (const [index, command] of commands.entries()) {
    const [head, ...args] = command;
    if (head?.kind !== 'function' && (args.length > 0 || index > 0)) {
      throw invalid(index > 0 && args.length === 0 ? 'non-function in pipeline after "|"' : "can't give argument to non-function");
    }
  }
  return { declare, commands };
}

function operandOf(token: Exclude<Token, { kind: 'punct' }>): Operand {
  switch (token.kind) {
    case 'field':
      return { kind: 'field', root: 'dot', variable: '', path: token.path };
    case 'variable':
      return { kind: 'field', root: 'var', variable: token.name, path: token.path };
    case 'string':
    case 'number':
      return { kind: 'literal', value: token.value };
    case 'identifier':
      if (token.name === 'true' || token.name === 'false') return { kind: 'literal', value: token.name === 'true' };
      if (token.name === 'nil') return { kind: 'literal', value: null };
      if (!functions.has(token.name)) throw invalid(`function "${token.name}" not defined`);
      return { kind: 'function', name: token.name };
  }
}

// ---------- evaluation ----------

type Scope = Map<string, Value>;

class Evaluator {
  constructor(
    private readonly root: Value,
    private readonly out: string[],
  ) {}

  run(nodes: readonly Node[], dot: Value, scope: Scope): void {
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          this.out.push(node.text);
          break;
        case 'action': {
          const value = this.pipeline(node.pipeline, dot, scope);
          if (node.pipeline.declare.length === 0) this.out.push(printTop(value));
          break;
        }
        case 'if':
        case 'with': {
          const inner = new Map(scope);
          const value = this.pipeline(node.pipeline, dot, inner);
          if (isTrue(value)) this.run(node.body, node.kind === 'with' ? value : dot, inner);
          else this.run(node.otherwise, dot, new Map(scope));
          break;
        }
        case 'range':
          this.range(node, dot, scope);
          break;
      }
    }
  }

  private range(node: Extract<Node, { kind: 'range' }>, dot: Value, scope: Scope): void {
    const { declare, commands } = node.pipeline;
    const value = this.pipeline({ declare: [], commands }, dot, scope);
    let entries: [Value, Value][];
    if (value === missing || value === null) entries = [];
    else if (Array.isArray(value)) entries = value.map((element: Value, index) => [index, element]);
    else if (isObject(value)) entries = sortedKeys(value).map((key) => [key, value[key]]);
    else throw invalid(`range can't iterate over ${printTop(value)}`);
    if (entries.length === 0) {
      this.run(node.otherwise, dot, new Map(scope));
      return;
    }
    for (const [key, element] of entries) {
      const inner = new Map(scope);
      if (declare.length === 1) inner.set(declare[0] ?? '', element);
      if (declare.length === 2) {
        inner.set(declare[0] ?? '', key);
        inner.set(declare[1] ?? '', element);
      }
      this.run(node.body, element, inner);
    }
  }

  private pipeline(pipeline: Pipeline, dot: Value, scope: Scope): Value {
    let value: Value = missing;
    for (const [index, command] of pipeline.commands.entries()) {
      value = this.command(command, dot, scope, index > 0 ? [value] : []);
    }
    // Go: a declaration in a range takes the element; elsewhere `$x := pipeline` binds the value.
    const name = pipeline.declare[0];
    if (name !== undefined) scope.set(name, value);
    return value;
  }

  private command(command: readonly Operand[], dot: Value, scope: Scope, piped: Value[]): Value {
    const [head, ...rest] = command;
    if (head === undefined) throw invalid('empty command');
    if (head.kind !== 'function') return this.operand(head, dot, scope);
    const args = [...rest.map((operand) => this.operand(operand, dot, scope)), ...piped];
    return callFunction(head.name, args);
  }

  private operand(operand: Operand, dot: Value, scope: Scope): Value {
    switch (operand.kind) {
      case 'literal':
        return operand.value;
      case 'function':
        return callFunction(operand.name, []);
      case 'pipeline':
        return this.pipeline(operand.pipeline, dot, new Map(scope));
      case 'field': {
        let value: Value;
        if (operand.root === 'dot') value = dot;
        else if (operand.variable === '$') value = this.root;
        else if (scope.has(operand.variable)) value = scope.get(operand.variable);
        else throw invalid(`undefined variable "${operand.variable}"`);
        for (const name of operand.path) value = fieldOf(value, name);
        return value;
      }
    }
  }
}

function isObject(value: Value): value is Record<string, Value> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value.name`, own properties only; missing stays missing (`<no value>`), as Go's default missingkey. */
function fieldOf(value: Value, name: string): Value {
  if (value === missing) return missing;
  if (value === null) throw invalid(`nil pointer evaluating interface {}.${name}`);
  if (!isObject(value)) throw invalid(`can't evaluate field ${name} in ${describe(value)}`);
  return Object.hasOwn(value, name) ? value[name] : missing;
}

function describe(value: Value): string {
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

function sortedKeys(value: Record<string, Value>): string[] {
  return Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Go's truth: false, 0, nil, empty strings, lists and maps are false. */
function isTrue(value: Value): boolean {
  if (value === missing || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return true;
}

function callFunction(name: string, args: Value[]): Value {
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
function printTop(value: Value): string {
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
