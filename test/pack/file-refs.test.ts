import { describe, expect, it } from 'vitest';
import { isStowageError, type ErrorCode } from '../../src/errors.js';
import { cleanPath, fileTitle, parseFileRef, parseFileRefs, titleOf } from '../../src/pack/file-refs.js';
import { pullSuccessors } from '../../src/pack/pull-successors.js';

function expectCode(run: () => unknown, code: ErrorCode): string {
  try {
    run();
  } catch (error) {
    if (!isStowageError(error)) throw error;
    expect(error.code, error.message).toBe(code);
    return error.message;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

describe('parseFileRef', () => {
  it('splits at the last colon only when a valid media type follows', () => {
    expect(parseFileRef('a.txt')).toEqual({ path: 'a.txt' });
    expect(parseFileRef('a.txt:text/plain')).toEqual({ path: 'a.txt', mediaType: 'text/plain' });
    expect(parseFileRef('dir/a:b.txt:application/vnd.x+json')).toEqual({ path: 'dir/a:b.txt', mediaType: 'application/vnd.x+json' });
    expect(parseFileRef('a:b.txt')).toEqual({ path: 'a:b.txt' });
    expect(parseFileRef('a.txt:not a type')).toEqual({ path: 'a.txt:not a type' });
    expect(parseFileRef('12:30.log')).toEqual({ path: '12:30.log' });
    expect(parseFileRef('a.txt:')).toEqual({ path: 'a.txt' });
    expect(parseFileRef('odd:name:')).toEqual({ path: 'odd:name' });
  });

  it('refuses an empty path', () => {
    expectCode(() => parseFileRef(':text/plain'), 'INVALID_ARGUMENT');
    expectCode(() => parseFileRef(''), 'INVALID_ARGUMENT');
  });
});

describe('fileTitle', () => {
  it('cleans the path as Go filepath.Clean does', () => {
    expect(cleanPath('./n//e/s/../s/t.txt')).toBe('n/e/s/t.txt');
    expect(cleanPath('dir/')).toBe('dir');
    expect(cleanPath('.')).toBe('.');
    expect(cleanPath('./')).toBe('.');
    expect(cleanPath('/')).toBe('/');
    expect(fileTitle('../up.txt')).toBe('../up.txt');
    expect(fileTitle('データ 📦.txt')).toBe('データ 📦.txt');
  });

  it('refuses absolute paths unless path validation is disabled', () => {
    const message = expectCode(() => fileTitle('/tmp/x/f.txt'), 'INVALID_ARGUMENT');
    expect(message).toContain('--disable-path-validation');
    expect(fileTitle('/tmp/x//f.txt', { disablePathValidation: true })).toBe('/tmp/x/f.txt');
  });
});

describe('parseFileRefs', () => {
  it('parses every argument with its title', () => {
    expect(parseFileRefs(['./a.txt:text/plain', 'dir'])).toEqual([
      { path: './a.txt', mediaType: 'text/plain', title: 'a.txt' },
      { path: 'dir', title: 'dir' },
    ]);
  });

  it('refuses two arguments with the same title', () => {
    const message = expectCode(() => parseFileRefs(['a.txt', './a.txt:text/plain']), 'INVALID_ARGUMENT');
    expect(message).toContain('a.txt');
    expectCode(() => parseFileRefs(['d/', 'd']), 'INVALID_ARGUMENT');
  });
});

describe('titleOf and pullSuccessors', () => {
  it('walks an index fully and a manifest only into titled blobs', () => {
    const titled = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'a'.repeat(64)}`, size: 1, annotations: { 'org.opencontainers.image.title': 'a' } };
    const untitled = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'b'.repeat(64)}`, size: 1, annotations: { 'org.opencontainers.image.title': '' } };
    const config = { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 };
    expect(titleOf(titled)).toBe('a');
    expect(titleOf(untitled)).toBeUndefined();
    const manifest = { schemaVersion: 2 as const, config, layers: [titled, untitled] };
    expect(pullSuccessors(config, { kind: 'manifest', mediaType: 'application/vnd.oci.image.manifest.v1+json', manifest })).toEqual([titled]);
    const index = { schemaVersion: 2 as const, manifests: [{ ...config, mediaType: 'application/vnd.oci.image.manifest.v1+json' }] };
    expect(pullSuccessors(config, { kind: 'index', mediaType: 'application/vnd.oci.image.index.v1+json', index })).toEqual(index.manifests);
  });
});
