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
import { Parser } from './go-template-parser.js';
import { invalid, missing, type Node, type Pipeline, type Operand, type Value } from './go-template-syntax.js';
import { callFunction, fieldOf, isObject, isTrue, printTop, sortedKeys } from './go-template-values.js';

export { goFloat, goJson, goPrint } from './go-template-values.js';

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
