import { describe, expect, it } from 'vitest';
import { renderTree, yamlScalar } from '../../../commands/ui/tree.js';

describe('renderTree', () => {
  it('draws branches and continuation lines', () => {
    const lines = renderTree({
      label: 'root',
      children: [
        { label: 'a', children: [{ label: 'a1', children: [] }, { label: 'a2', children: [{ label: 'deep', children: [] }] }] },
        { label: 'b', children: [{ label: 'b1', children: [] }] },
      ],
    });
    expect(lines).toEqual(['root', '├── a', '│   ├── a1', '│   └── a2', '│       └── deep', '└── b', '    └── b1']);
  });
});

describe('yamlScalar (annotation values in the tree, as ORAS prints them)', () => {
  it('leaves plain strings plain', () => {
    expect(yamlScalar('bar')).toBe('bar');
    expect(yamlScalar('org.opencontainers.image.created')).toBe('org.opencontainers.image.created');
    expect(yamlScalar('a b')).toBe('a b');
  });
  it('single-quotes what YAML would read as a boolean, number or null', () => {
    expect(yamlScalar('y')).toBe("'y'");
    expect(yamlScalar('yes')).toBe("'yes'");
    expect(yamlScalar('true')).toBe("'true'");
    expect(yamlScalar('12')).toBe("'12'");
    expect(yamlScalar('1.5')).toBe("'1.5'");
    expect(yamlScalar('null')).toBe("'null'");
    expect(yamlScalar("it's: odd")).toBe("'it''s: odd'");
  });
  it('double-quotes timestamps and control characters, and the empty string', () => {
    expect(yamlScalar('2026-11-23T21:09:08Z')).toBe('"2026-11-23T21:09:08Z"');
    expect(yamlScalar('a\nb')).toBe('"a\\nb"');
    expect(yamlScalar('')).toBe('""');
  });
});
