import { describe, expect, it } from 'vitest';
import { expectCode } from '../helpers/expect-code.js';
import {
  apiHost,
  formatReference,
  isLoopbackRegistry,
  isValidTag,
  parseLayoutReference,
  parseReference,
  parseReferenceWithTags,
  referenceSelector,
  type Reference,
} from '../../src/oci/reference.js';

const d256 = `sha256:${'ab'.repeat(32)}`;
const d512 = `sha512:${'0f'.repeat(64)}`;

/** Runs `fn`, expecting an INVALID_REFERENCE error whose message names `input`; returns the message. */
function invalidMessage(fn: () => unknown, input: string): string {
  const error = expectCode(fn, 'INVALID_REFERENCE');
  expect(error.message).toContain(`"${input}"`);
  return error.message;
}

describe('parseReference: Docker Hub normalisation', () => {
  it.each<[string, Reference]>([
    ['alpine', { registry: 'docker.io', repository: 'library/alpine' }],
    ['alpine:3.20', { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' }],
    ['user/app', { registry: 'docker.io', repository: 'user/app' }],
    ['user/app/sub:v1', { registry: 'docker.io', repository: 'user/app/sub', tag: 'v1' }],
    ['docker.io/alpine', { registry: 'docker.io', repository: 'library/alpine' }],
    ['docker.io/library/alpine', { registry: 'docker.io', repository: 'library/alpine' }],
    ['docker.io/team/tool', { registry: 'docker.io', repository: 'team/tool' }],
    ['index.docker.io/x/y', { registry: 'docker.io', repository: 'x/y' }],
    ['index.docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox' }],
    ['registry-1.docker.io/busybox:1', { registry: 'docker.io', repository: 'library/busybox', tag: '1' }],
    ['Docker.IO/alpine', { registry: 'docker.io', repository: 'library/alpine' }],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it('does not add library/ for other registries', () => {
    expect(parseReference('ghcr.io/app')).toEqual({ registry: 'ghcr.io', repository: 'app' });
    expect(parseReference('localhost/app')).toEqual({ registry: 'localhost', repository: 'app' });
  });

  it('a look-alike of docker.io is its own registry', () => {
    expect(parseReference('docker.io.example.com/alpine').registry).toBe('docker.io.example.com');
    expect(parseReference('mydocker.io/alpine').repository).toBe('alpine');
  });

  it('apiHost maps docker.io to registry-1.docker.io and leaves others alone', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost(parseReference('alpine').registry)).toBe('registry-1.docker.io');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
    expect(apiHost('localhost:5000')).toBe('localhost:5000');
  });
});

describe('parseReference: registry hosts', () => {
  it.each<[string, Reference]>([
    ['localhost/app', { registry: 'localhost', repository: 'app' }],
    ['localhost:5000/app', { registry: 'localhost:5000', repository: 'app' }],
    ['localhost:5000/team/app:v2', { registry: 'localhost:5000', repository: 'team/app', tag: 'v2' }],
    ['127.0.0.1:5000/a/b:tag', { registry: '127.0.0.1:5000', repository: 'a/b', tag: 'tag' }],
    ['registry.example.com/a', { registry: 'registry.example.com', repository: 'a' }],
    ['my-registry:8443/a', { registry: 'my-registry:8443', repository: 'a' }],
    ['[::1]:5000/app:v1', { registry: '[::1]:5000', repository: 'app', tag: 'v1' }],
    ['[::1]/app', { registry: '[::1]', repository: 'app' }],
    ['[2001:db8::10]:443/ns/app@' + d256, { registry: '[2001:db8::10]:443', repository: 'ns/app', digest: d256 }],
    ['localhost:65535/app', { registry: 'localhost:65535', repository: 'app' }],
    ['localhost:1/app', { registry: 'localhost:1', repository: 'app' }],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it('lowercases registry hosts, keeping the repository and tag as written', () => {
    expect(parseReference('Registry.Example.COM:5000/app:MixedCase')).toEqual({
      registry: 'registry.example.com:5000',
      repository: 'app',
      tag: 'MixedCase',
    });
    expect(parseReference('LOCALHOST:5000/app').registry).toBe('localhost:5000');
    expect(parseReference('LocalHost/app').registry).toBe('localhost');
    expect(parseReference('[FE80::AB]:5000/app').registry).toBe('[fe80::ab]:5000');
  });

  it('a first component without ".", ":" or "localhost" is a repository path, not a host', () => {
    expect(parseReference('myhost/app')).toEqual({ registry: 'docker.io', repository: 'myhost/app' });
    // As with docker: without a slash there is no host, so this is the image "localhost" tagged "5000".
    expect(parseReference('localhost:5000')).toEqual({ registry: 'docker.io', repository: 'library/localhost', tag: '5000' });
  });

  it.each([
    ['localhost:0/app', 'port 0'],
    ['localhost:70000/app', 'port 70000'],
    ['localhost:65536/app', 'port 65536'],
    ['[::1]:0/app', 'port 0'],
    ['[::1]:99999/app', 'port 99999'],
  ])('rejects %s (%s out of range)', (input, what) => {
    expect(invalidMessage(() => parseReference(input), input)).toContain(what);
  });

  it.each([
    'localhost:/app',
    'localhost:abc/app',
    '-bad.example.com/app',
    'bad-.example.com/app',
    'bad_host.example.com/app',
    'example..com/app',
    '[::1/app',
    '[]:5000/app',
    '[:]:5000/app',
    '[1]:5000/app',
    '[::1::2]:5000/app',
    '[::g]:5000/app',
    '[::1]x/app',
    '[::1]:/app',
  ])('rejects the malformed host in %s', (input) => {
    invalidMessage(() => parseReference(input), input);
  });

  it('rejects IPv6 zone identifiers, which no registry URL can carry', () => {
    const input = '[fe80::1%eth0]:5000/x';
    expect(invalidMessage(() => parseReference(input), input)).toContain('zone ids are not supported');
    invalidMessage(() => parseReference('[fe80::1%25eth0]/x'), '[fe80::1%25eth0]/x');
  });
});

describe('parseReference: tags and digests', () => {
  it('parses a tag and a digest together, and a digest alone', () => {
    expect(parseReference(`ghcr.io/o/app:v1@${d256}`)).toEqual({ registry: 'ghcr.io', repository: 'o/app', tag: 'v1', digest: d256 });
    expect(parseReference(`ghcr.io/o/app@${d512}`)).toEqual({ registry: 'ghcr.io', repository: 'o/app', digest: d512 });
    expect(parseReference(`localhost:5000/app@${d256}`)).toEqual({ registry: 'localhost:5000', repository: 'app', digest: d256 });
  });

  it('accepts the tag grammar at its edges', () => {
    expect(parseReference('app:_x').tag).toBe('_x');
    expect(parseReference('app:V1.2-rc_3').tag).toBe('V1.2-rc_3');
    const longest = 'a'.repeat(128);
    expect(parseReference(`app:${longest}`).tag).toBe(longest);
  });

  it('referenceSelector prefers the digest', () => {
    expect(referenceSelector(parseReference(`app:v1@${d256}`))).toBe(d256);
    expect(referenceSelector(parseReference('app:v1'))).toBe('v1');
    expect(referenceSelector(parseReference('app'))).toBeUndefined();
  });

  it('several tags need multipleTags', () => {
    const input = 'localhost:5000/repo:v1,v2';
    expect(invalidMessage(() => parseReference(input), input)).toMatch(/several tags/);
    invalidMessage(() => parseReferenceWithTags(input), input);
    const { reference, tags } = parseReferenceWithTags(input, { multipleTags: true });
    expect(tags).toEqual(['v1', 'v2']);
    expect(reference).toEqual({ registry: 'localhost:5000', repository: 'repo', tag: 'v1' });
  });

  it('multipleTags drops repeated tags and still validates each', () => {
    expect(parseReferenceWithTags('repo:a,b,a', { multipleTags: true }).tags).toEqual(['a', 'b']);
    invalidMessage(() => parseReferenceWithTags('repo:a,,b', { multipleTags: true }), 'repo:a,,b');
    invalidMessage(() => parseReferenceWithTags('repo:a,-b', { multipleTags: true }), 'repo:a,-b');
  });

  it('a single tag or none gives a matching tags list', () => {
    expect(parseReferenceWithTags('repo:only').tags).toEqual(['only']);
    expect(parseReferenceWithTags(`repo@${d256}`).tags).toEqual([]);
  });

  it('isValidTag', () => {
    expect(isValidTag('latest')).toBe(true);
    expect(isValidTag('1.0')).toBe(true);
    expect(isValidTag('')).toBe(false);
    expect(isValidTag('.hidden')).toBe(false);
    expect(isValidTag('-x')).toBe(false);
    expect(isValidTag('a'.repeat(129))).toBe(false);
    expect(isValidTag('a/b')).toBe(false);
    expect(isValidTag('a+b')).toBe(false);
  });
});

describe('parseReference: repository path grammar', () => {
  it.each(['a__b', 'a_b', 'a.b', 'a-b', 'a---b', 'a.b_c__d-e', 'a0/b1/c2', '0', 'x/y/z/w'])('accepts %s', (repo) => {
    expect(parseReference(`localhost/${repo}`).repository).toBe(repo);
  });

  it.each(['a___b', 'a..b', 'a._b', '_a', 'a_', 'a-', '-a', '.a', 'a//b', 'a/', 'a/b/', 'a+b', 'a%b'])('rejects %s', (repo) => {
    const input = `localhost/${repo}`;
    invalidMessage(() => parseReference(input), input);
  });

  it('rejects uppercase repositories with a lowercase hint', () => {
    expect(invalidMessage(() => parseReference('docker.io/MyApp'), 'docker.io/MyApp')).toContain('lowercase');
    expect(invalidMessage(() => parseReference('ghcr.io/o/App:v1'), 'ghcr.io/o/App:v1')).toContain('lowercase');
    expect(invalidMessage(() => parseReference('Alpine'), 'Alpine')).toContain('lowercase');
  });

  it('limits the name (registry and repository) to 255 characters', () => {
    const at255 = `ghcr.io/${'a'.repeat(255 - 'ghcr.io/'.length)}`;
    expect(at255).toHaveLength(255);
    expect(parseReference(`${at255}:v1`).repository).toHaveLength(247);
    const at256 = `${at255}b`;
    expect(invalidMessage(() => parseReference(`${at256}:v1`), `${at256}:v1`)).toContain('255');
  });
});

describe('parseReference: invalid input', () => {
  it.each([
    ['', /empty/],
    ['   ', /empty/],
    [' alpine', /whitespace/],
    ['alpine ', /whitespace/],
    ['alp ine', /whitespace/],
    ['alpine\t', /whitespace/],
    ['https://ghcr.io/o/app', /scheme/],
    ['http://localhost:5000/app:v1', /scheme/],
    ['repo:', /empty tag/],
    ['repo:.v1', /not a valid tag/],
    ['repo:-v1', /not a valid tag/],
    [`repo:${'a'.repeat(129)}`, /not a valid tag/],
    ['repo:v/1', /./],
    ['repo:v1:v2', /./],
    ['repo@', /digest/],
    ['repo@sha256:abc', /digest/],
    [`repo@sha256:${'AB'.repeat(32)}`, /digest/],
    [`repo@md5:${'a'.repeat(32)}`, /unsupported algorithm/],
    [`repo:v1@${d256}@${d256}`, /./],
    ['@' + d256, /missing repository/],
    [':v1', /missing repository/],
    ['localhost/', /missing repository/],
    ['localhost:5000/', /missing repository/],
    ['/app', /./],
    ['a//b', /./],
    ['-a', /./],
  ])('%j', (input, reason) => {
    expect(invalidMessage(() => parseReference(input), input)).toMatch(reason);
  });
});

describe('formatReference', () => {
  it.each([
    'alpine',
    'alpine:3',
    'user/app:v1',
    `ghcr.io/o/app:v1@${d256}`,
    `localhost:5000/app@${d512}`,
    '[::1]:5000/app:v1',
    '127.0.0.1:5000/a/b:tag',
    'REGISTRY.example.com/app',
  ])('round trips %s', (input) => {
    const parsed = parseReference(input);
    const formatted = formatReference(parsed);
    expect(parseReference(formatted)).toEqual(parsed);
    expect(formatReference(parseReference(formatted))).toBe(formatted);
  });

  it('writes the normalised form', () => {
    expect(formatReference(parseReference('alpine'))).toBe('docker.io/library/alpine');
    expect(formatReference(parseReference(`app:v1@${d256}`))).toBe(`docker.io/library/app:v1@${d256}`);
    expect(formatReference({ registry: 'localhost:5000', repository: 'a/b', tag: 't' })).toBe('localhost:5000/a/b:t');
  });
});

describe('isLoopbackRegistry', () => {
  it.each(['localhost', 'localhost:5000', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '[::1]', '[::1]:5000'])('%s is loopback', (registry) => {
    expect(isLoopbackRegistry(registry)).toBe(true);
  });

  it.each(['docker.io', 'ghcr.io', 'localhost.example.com', 'mylocalhost:5000', '127.0.0.1.example.com', '128.0.0.1:5000', '[::2]:5000', '10.0.0.1:5000'])(
    '%s is not loopback',
    (registry) => {
      expect(isLoopbackRegistry(registry)).toBe(false);
    },
  );

  it('works on parsed references', () => {
    expect(isLoopbackRegistry(parseReference('LOCALHOST:5000/app').registry)).toBe(true);
    expect(isLoopbackRegistry(parseReference('alpine').registry)).toBe(false);
  });
});

describe('parseLayoutReference', () => {
  it.each([
    ['./dir', { path: './dir', tags: [] }],
    ['dir', { path: 'dir', tags: [] }],
    ['dir:tag', { path: 'dir', tag: 'tag', tags: ['tag'] }],
    [`dir@${d256}`, { path: 'dir', digest: d256, tags: [] }],
    [`dir:v1@${d256}`, { path: 'dir', tag: 'v1', digest: d256, tags: ['v1'] }],
    ['/abs/path/dir:tag', { path: '/abs/path/dir', tag: 'tag', tags: ['tag'] }],
    ['a/b:c/d', { path: 'a/b:c/d', tags: [] }],
    ['a/b:c/d:e', { path: 'a/b:c/d', tag: 'e', tags: ['e'] }],
    ['../Some Dir/out:V1', { path: '../Some Dir/out', tag: 'V1', tags: ['V1'] }],
  ])('%s', (input, expected) => {
    expect(parseLayoutReference(input)).toEqual(expected);
  });

  it('several tags need multipleTags', () => {
    invalidMessage(() => parseLayoutReference('dir:v1,v2'), 'dir:v1,v2');
    expect(parseLayoutReference('dir:v1,v2', { multipleTags: true })).toEqual({ path: 'dir', tag: 'v1', tags: ['v1', 'v2'] });
  });

  it.each(['', ':tag', `@${d256}`, 'dir:', 'dir:.x', 'dir:-x', `dir:${'t'.repeat(129)}`, 'dir@sha256:xyz', 'dir@'])('rejects %j', (input) => {
    invalidMessage(() => parseLayoutReference(input), input);
  });
});
