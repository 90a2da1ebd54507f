import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isStowageError, type ErrorCode } from '../../src/errors.js';
import { mergeAnnotations, parseAnnotationFile, parseAnnotationFlags, readAnnotationFile } from '../../src/pack/annotations.js';
import { parseFileRefs } from '../../src/pack/file-refs.js';

async function expectCode(run: () => unknown, code: ErrorCode): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (!isStowageError(error)) throw error;
    expect(error.code, error.message).toBe(code);
    return error.message;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

const scratch: string[] = [];
afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

describe('parseAnnotationFlags', () => {
  it('splits at the first "=": values may contain "=" and be empty', () => {
    expect(parseAnnotationFlags(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
  });

  it('refuses a flag without "=", an empty key and a duplicate key', async () => {
    await expectCode(() => parseAnnotationFlags(['novalue']), 'INVALID_ARGUMENT');
    await expectCode(() => parseAnnotationFlags(['=v']), 'INVALID_ARGUMENT');
    expect(await expectCode(() => parseAnnotationFlags(['k=1', 'k=2']), 'INVALID_ARGUMENT')).toContain('"k"');
  });
});

describe('parseAnnotationFile', () => {
  it('sorts entries into manifest, config and files', () => {
    const parsed = parseAnnotationFile('{"$manifest":{"m":"1"},"$config":{"c":"2"},"f.txt":{"a":"3"}}', 'ann.json');
    expect(parsed.manifest).toEqual({ m: '1' });
    expect(parsed.config).toEqual({ c: '2' });
    expect([...parsed.files]).toEqual([['f.txt', { a: '3' }]]);
  });

  it('refuses what is not JSON or not string-to-string objects, naming the file', async () => {
    expect(await expectCode(() => parseAnnotationFile('{', 'ann.json'), 'INVALID_ARGUMENT')).toContain('ann.json');
    await expectCode(() => parseAnnotationFile('[]', 'ann.json'), 'INVALID_ARGUMENT');
    await expectCode(() => parseAnnotationFile('{"f.txt":"x"}', 'ann.json'), 'INVALID_ARGUMENT');
    expect(await expectCode(() => parseAnnotationFile('{"f.txt":{"a":1}}', 'ann.json'), 'INVALID_ARGUMENT')).toContain('f.txt.a');
    await expectCode(() => parseAnnotationFile('{"$manifest":{"":"x"}}', 'ann.json'), 'INVALID_ARGUMENT');
    await expectCode(() => parseAnnotationFile(new Uint8Array([0xff, 0xfe]), 'ann.json'), 'INVALID_ARGUMENT');
  });

  it('reads a file, and says FILE_NOT_FOUND for a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stowage-annotations-'));
    scratch.push(dir);
    await writeFile(join(dir, 'a.json'), '{"$manifest":{"k":"v"}}');
    expect((await readAnnotationFile(join(dir, 'a.json'))).manifest).toEqual({ k: 'v' });
    await expectCode(() => readAnnotationFile(join(dir, 'missing.json')), 'FILE_NOT_FOUND');
  });
});

describe('mergeAnnotations', () => {
  const files = parseFileRefs(['./f.txt', 'dir/g.bin:application/octet-stream']);

  it('merges flags with $manifest and matches file entries by the path as given or by title', () => {
    const file = parseAnnotationFile('{"$manifest":{"m":"1"},"$config":{"c":"2"},"./f.txt":{"a":"1"},"dir/g.bin":{"b":"2"}}', 'ann.json');
    const merged = mergeAnnotations({ flag: 'x' }, file, files);
    expect(merged.manifest).toEqual({ flag: 'x', m: '1' });
    expect(merged.config).toEqual({ c: '2' });
    expect([...merged.files]).toEqual([['f.txt', { a: '1' }], ['dir/g.bin', { b: '2' }]]);
    const byTitle = mergeAnnotations({}, parseAnnotationFile('{"f.txt":{"a":"1"}}', 'ann.json'), files);
    expect(byTitle.files.get('f.txt')).toEqual({ a: '1' });
    expect(mergeAnnotations({ only: 'flags' }, undefined, files)).toEqual({ manifest: { only: 'flags' }, config: {}, files: new Map() });
  });

  it('refuses a key given twice, an unknown file and two entries for one file', async () => {
    const twice = parseAnnotationFile('{"$manifest":{"k":"file"}}', 'ann.json');
    expect(await expectCode(() => mergeAnnotations({ k: 'flag' }, twice, files), 'INVALID_ARGUMENT')).toContain('"k"');
    const unknown = parseAnnotationFile('{"nope.txt":{"a":"b"}}', 'ann.json');
    expect(await expectCode(() => mergeAnnotations({}, unknown, files), 'INVALID_ARGUMENT')).toContain('nope.txt');
    const both = parseAnnotationFile('{"./f.txt":{"a":"1"},"f.txt":{"b":"2"}}', 'ann.json');
    await expectCode(() => mergeAnnotations({}, both, files), 'INVALID_ARGUMENT');
  });
});
