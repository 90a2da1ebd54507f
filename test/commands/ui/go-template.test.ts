import { describe, expect, it } from 'vitest';
import { goFloat, GoTemplate, renderGoTemplate } from '../../../commands/ui/go-template.js';
import { isStowageError } from '../../../src/index.js';

const push = {
  reference: 'localhost:5000/hello@sha256:abc',
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: 'sha256:abc',
  size: 584,
  annotations: { 'org.opencontainers.image.created': '2026-11-23T22:51:59Z' },
  artifactType: 'application/vnd.unknown.artifact.v1',
  referenceAsTags: ['localhost:5000/hello:v1', 'localhost:5000/hello:latest'],
};
const pull = {
  reference: 'localhost:5000/hello@sha256:abc',
  files: [
    { path: '/tmp/out/a.txt', digest: 'sha256:1', size: 3 },
    { path: '/tmp/out/b.txt', digest: 'sha256:2', size: 2000000 },
  ],
};

function errorOf(template: string, document: unknown = push): { code: string; message: string } {
  try {
    renderGoTemplate(template, document);
  } catch (error) {
    if (isStowageError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`no error for ${template}`);
}

describe('go-template: fields and text', () => {
  it('prints text, fields and nested fields', () => {
    expect(renderGoTemplate('digest: {{.digest}}', push)).toBe('digest: sha256:abc');
    expect(renderGoTemplate('{{.reference}} {{.size}}', push)).toBe('localhost:5000/hello@sha256:abc 584');
    expect(renderGoTemplate('{{.a.b.c}}', { a: { b: { c: 'deep' } } })).toBe('deep');
    expect(renderGoTemplate('{{ .digest }}', push)).toBe('sha256:abc');
    expect(renderGoTemplate('no actions', push)).toBe('no actions');
  });
  it('prints a missing field as Go does: <no value>', () => {
    expect(renderGoTemplate('{{.nope}}|{{.nope.deeper}}', push)).toBe('<no value>|<no value>');
    expect(renderGoTemplate('{{.x}}', { x: null })).toBe('<no value>');
  });
  it('prints maps, lists and numbers as Go prints decoded JSON', () => {
    expect(renderGoTemplate('{{.annotations}}', push)).toBe('map[org.opencontainers.image.created:2026-11-23T22:51:59Z]');
    expect(renderGoTemplate('{{.referenceAsTags}}', push)).toBe('[localhost:5000/hello:v1 localhost:5000/hello:latest]');
    expect(renderGoTemplate('{{.}}', { b: 1, a: [true, null] })).toBe('map[a:[true <nil>] b:1]');
    expect(renderGoTemplate('{{range .files}}{{.size}} {{end}}', pull)).toBe('3 2e+06 ');
    expect([goFloat(584), goFloat(999999), goFloat(1234567), goFloat(0.5), goFloat(0.00001), goFloat(-3)]).toEqual(['584', '999999', '1.234567e+06', '0.5', '1e-05', '-3']);
  });
  it('takes string, raw string, number and boolean literals', () => {
    expect(renderGoTemplate('{{"a\\tb\\n"}}{{`raw\\n`}}{{3}}{{true}}', {})).toBe('a\tb\nraw\\n3true');
    expect(renderGoTemplate('{{"}}"}}', {})).toBe('}}');
  });
  it('trims whitespace with {{- and -}}', () => {
    expect(renderGoTemplate('a  \n {{- .digest -}} \n  b', push)).toBe('asha256:abcb');
    expect(renderGoTemplate('{{range .files -}}\n  {{.path}}\n{{end}}', pull)).toBe('/tmp/out/a.txt\n/tmp/out/b.txt\n');
  });
  it('skips comments', () => {
    expect(renderGoTemplate('a{{/* note */}}b {{- /* trim */ -}} c', {})).toBe('abc');
  });
});

describe('go-template: functions', () => {
  it('json and toJson print compact JSON with sorted keys and HTML escapes, as Go does', () => {
    expect(renderGoTemplate('{{json .referenceAsTags}}', push)).toBe('["localhost:5000/hello:v1","localhost:5000/hello:latest"]');
    expect(renderGoTemplate('{{toJson .}}', { b: 1, a: { d: 'x<y&z', c: [] } })).toBe('{"a":{"c":[],"d":"x\\u003cy\\u0026z"},"b":1}');
    expect(renderGoTemplate('{{.files | json}}', { files: [] })).toBe('[]');
    expect(renderGoTemplate('{{json .nope}}', {})).toBe('null');
  });
  it('index, len, eq, not, and, or', () => {
    expect(renderGoTemplate('{{index .annotations "org.opencontainers.image.created"}}', push)).toBe('2026-11-23T22:51:59Z');
    expect(renderGoTemplate('{{index .files 1 "path"}}', pull)).toBe('/tmp/out/b.txt');
    expect(renderGoTemplate('{{len .files}} {{len .digest}}', { files: [1, 2], digest: 'abc' })).toBe('2 3');
    expect(renderGoTemplate('{{if eq .size 584.0}}yes{{end}} {{not .x}} {{and 1 0}} {{or 0 "b"}}', push)).toBe('yes true 0 b');
    expect(renderGoTemplate('{{if (eq .artifactType "application/vnd.unknown.artifact.v1")}}unknown{{end}}', push)).toBe('unknown');
  });
});

describe('go-template: control structures', () => {
  it('ranges over a list with . bound to the element', () => {
    expect(renderGoTemplate('{{range .files}}{{.path}}{{"\\n"}}{{end}}', pull)).toBe('/tmp/out/a.txt\n/tmp/out/b.txt\n');
  });
  it('ranges with $i, $e and $, and over maps in key order', () => {
    expect(renderGoTemplate('{{range $i, $e := .referenceAsTags}}{{$i}}={{$e}} {{end}}', push)).toBe('0=localhost:5000/hello:v1 1=localhost:5000/hello:latest ');
    expect(renderGoTemplate('{{range $f := .files}}{{$f.path}}@{{$.reference}};{{end}}', pull)).toBe('/tmp/out/a.txt@localhost:5000/hello@sha256:abc;/tmp/out/b.txt@localhost:5000/hello@sha256:abc;');
    expect(renderGoTemplate('{{range $k, $v := .}}{{$k}}:{{$v}},{{end}}', { z: 1, a: 2 })).toBe('a:2,z:1,');
  });
  it('runs {{else}} of an empty or missing range', () => {
    expect(renderGoTemplate('{{range .referrers}}x{{else}}none{{end}}', { referrers: [] })).toBe('none');
    expect(renderGoTemplate('{{range .nope}}x{{end}}', {})).toBe('');
  });
  it('if / else if / else with Go truthiness', () => {
    const t = GoTemplate.parse('{{if .a}}a{{else if .b}}b{{else}}none{{end}}');
    expect(t.execute({ a: 'x' })).toBe('a');
    expect(t.execute({ a: '', b: [1] })).toBe('b');
    for (const falsy of [false, 0, '', [], {}, null]) expect(t.execute({ a: falsy, b: falsy })).toBe('none');
    expect(t.execute({})).toBe('none');
  });
  it('with rebinds dot; variables are scoped', () => {
    expect(renderGoTemplate('{{with .annotations}}{{index . "org.opencontainers.image.created"}}{{end}}', push)).toBe('2026-11-23T22:51:59Z');
    expect(renderGoTemplate('{{$d := .digest}}{{range .referenceAsTags}}{{$d}} {{end}}', push)).toBe('sha256:abc sha256:abc ');
  });
});

describe('go-template: errors are INVALID_ARGUMENT', () => {
  it.each([
    ['{{.digest', 'unclosed action'],
    ['{{foo}}', 'function "foo" not defined'],
    ['{{range .files}}x', 'has no {{end}}'],
    ['{{end}}', 'unexpected {{end}}'],
    ['{{else}}', 'unexpected {{else}}'],
    ['{{"abc}}', 'unterminated quoted string'],
    ['{{}}', 'missing value for command'],
    ['{{.a "b"}}', "can't give argument to non-function"],
    ['{{template "x"}}', 'not supported'],
    ['{{$nope}}', 'undefined variable "$nope"'],
    ['{{.digest.x}}', "can't evaluate field x in a string"],
    ['{{range .digest}}{{end}}', "range can't iterate over sha256:abc"],
    ['{{json}}', 'wrong number of args for json'],
    ['{{.a | .b}}', 'non-function in pipeline'],
    ['{{/* open', 'unclosed comment'],
  ])('%s', (template, message) => {
    const error = errorOf(template);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/^invalid --template: /);
    expect(error.message).toContain(message);
  });
});

describe('go-template: no prototype access', () => {
  it('reaches own properties of the document only', () => {
    expect(renderGoTemplate('{{.constructor}}|{{.__proto__}}|{{.toString}}|{{.hasOwnProperty}}', push)).toBe('<no value>|<no value>|<no value>|<no value>');
    expect(renderGoTemplate('{{.files.constructor}}', { files: {} })).toBe('<no value>');
    expect(renderGoTemplate('{{index . "constructor"}}|{{index . "__proto__"}}', {})).toBe('<no value>|<no value>');
    expect(errorOf('{{.files.length}}', pull).message).toContain("can't evaluate field length in a list");
    expect(errorOf('{{.digest.constructor.name}}', push).message).toContain("can't evaluate field constructor in a string");
  });
  it('treats a "__proto__" key of the document as plain data', () => {
    const document: unknown = JSON.parse('{"__proto__": {"polluted": "yes"}}');
    expect(renderGoTemplate('{{.__proto__.polluted}}|{{.polluted}}', document)).toBe('yes|<no value>');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
