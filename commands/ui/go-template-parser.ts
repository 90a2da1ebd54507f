/** Parses the Go-template subset of `go-template.ts` into the tree of `go-template-syntax.ts`. */
import { functions, invalid, keywords, type Node, type Operand, type Pipeline } from './go-template-syntax.js';

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

export class Parser {
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
