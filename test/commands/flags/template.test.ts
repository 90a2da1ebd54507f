import { describe, expect, it } from 'vitest';
import { splitInlineTemplate } from '../../../commands/flags/template.js';

describe('splitInlineTemplate (ORAS: --format go-template=TEMPLATE)', () => {
  it('turns the inline form into --format go-template --template TEMPLATE', () => {
    expect(splitInlineTemplate(['ref', '--format', 'go-template={{.digest}}'])).toEqual(['ref', '--format', 'go-template', '--template', '{{.digest}}']);
    expect(splitInlineTemplate(['--format=go-template={{.a}}={{.b}}', 'ref'])).toEqual(['--format', 'go-template', '--template', '{{.a}}={{.b}}', 'ref']);
  });
  it('leaves other arguments, and everything after --, alone', () => {
    expect(splitInlineTemplate(['ref', '--format', 'json', '--template', 'x'])).toEqual(['ref', '--format', 'json', '--template', 'x']);
    expect(splitInlineTemplate(['ref', '--', '--format=go-template=x'])).toEqual(['ref', '--', '--format=go-template=x']);
  });
  it('refuses a template given twice', () => {
    expect(() => splitInlineTemplate(['--format=go-template=x', '--template', 'y'])).toThrow(/give the template once/);
  });
});
