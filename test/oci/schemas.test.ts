import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectCode } from '../helpers/expect-code.js';
import { emptyDescriptor } from '../../src/oci/media-types.js';
import {
  catalogSchema,
  descriptorSchema,
  errorBodySchema,
  imageConfigSchema,
  imageIndexSchema,
  imageManifestSchema,
  parseJson,
  parseManifest,
  successors,
  tagListSchema,
} from '../../src/oci/schemas.js';

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

const configText = '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}';
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configText), size: configText.length };
const layerA = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: sha256('layer a'),
  size: 32_654,
  annotations: { 'org.opencontainers.image.title': 'a.tar.gz' },
};
const layerB = { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: sha256('layer b'), size: 0 };
const subject = { mediaType: OCI_MANIFEST, digest: sha256('subject'), size: 527 };

function ociManifest(): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.example.sbom.v1+json',
    config,
    layers: [layerA, layerB],
    subject,
    annotations: { 'org.opencontainers.image.created': '2024-05-01T10:00:00Z' },
  };
}

const amd64 = { mediaType: OCI_MANIFEST, digest: sha256('amd64'), size: 1_024, platform: { architecture: 'amd64', os: 'linux' } };
const armv7 = {
  mediaType: OCI_MANIFEST,
  digest: sha256('arm'),
  size: 1_025,
  platform: { architecture: 'arm', os: 'linux', variant: 'v7', 'os.features': ['x'] },
};

function ociIndex(): Record<string, unknown> {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [amd64, armv7] };
}


describe('parseManifest', () => {
  it('parses an OCI image manifest and lists config then layers as successors (not the subject)', () => {
    const parsed = parseManifest(encode(ociManifest()), OCI_MANIFEST, 'ghcr.io/o/app:v1');
    expect(parsed.kind).toBe('manifest');
    if (parsed.kind !== 'manifest') return;
    expect(parsed.mediaType).toBe(OCI_MANIFEST);
    expect(parsed.manifest.subject?.digest).toBe(subject.digest);
    expect(parsed.manifest.artifactType).toBe('application/vnd.example.sbom.v1+json');
    expect(successors(parsed).map((d) => d.digest)).toEqual([config.digest, layerA.digest, layerB.digest]);
  });

  it('parses an OCI index and lists its manifests as successors', () => {
    const parsed = parseManifest(encode(ociIndex()), OCI_INDEX, 'ghcr.io/o/app:multi');
    expect(parsed.kind).toBe('index');
    if (parsed.kind !== 'index') return;
    expect(parsed.index.manifests[1]?.platform).toEqual(armv7.platform);
    expect(successors(parsed)).toEqual([amd64, armv7]);
  });

  it('successors of an index is a copy', () => {
    const parsed = parseManifest(encode(ociIndex()), OCI_INDEX, 'x');
    successors(parsed).pop();
    expect(successors(parsed)).toHaveLength(2);
  });

  it('parses a Docker manifest list and a Docker schema 2 manifest', () => {
    const list = {
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        { mediaType: DOCKER_MANIFEST, digest: sha256('d1'), size: 528, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: DOCKER_MANIFEST, digest: sha256('d2'), size: 529, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ],
    };
    const parsedList = parseManifest(encode(list), DOCKER_LIST, 'docker.io/library/alpine:3');
    expect(parsedList.kind).toBe('index');
    expect(successors(parsedList)).toHaveLength(2);

    const manifest = {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256('cfg'), size: 1_472 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256('l'), size: 3_623_807 }],
    };
    const parsed = parseManifest(encode(manifest), DOCKER_MANIFEST, 'docker.io/library/alpine@x');
    expect(parsed.kind).toBe('manifest');
    expect(successors(parsed).map((d) => d.size)).toEqual([1_472, 3_623_807]);
  });

  it('accepts a body without mediaType (the served type decides)', () => {
    const body = ociManifest();
    delete body.mediaType;
    expect(parseManifest(encode(body), OCI_MANIFEST, 'x').kind).toBe('manifest');
  });

  it('keeps unknown fields at every level', () => {
    const body = {
      ...ociManifest(),
      'x-extra': { nested: [1, 2] },
      config: { ...config, 'x-note': 'kept' },
    };
    const parsed = parseManifest(encode(body), OCI_MANIFEST, 'x');
    expect(parsed.kind === 'manifest' && parsed.manifest['x-extra']).toEqual({ nested: [1, 2] });
    expect(parsed.kind === 'manifest' && parsed.manifest.config['x-note']).toBe('kept');

    const index = { ...ociIndex(), manifests: [{ ...amd64, platform: { ...amd64.platform, 'x-cpu': 'zen4' } }] };
    const parsedIndex = parseManifest(encode(index), OCI_INDEX, 'x');
    expect(parsedIndex.kind === 'index' && parsedIndex.index.manifests[0]?.platform?.['x-cpu']).toBe('zen4');
  });

  it('rejects a body whose mediaType disagrees with the served one', () => {
    const error = expectCode(() => parseManifest(encode(ociManifest()), DOCKER_MANIFEST, 'ghcr.io/o/app:v1'), 'INVALID_MEDIA_TYPE');
    expect(error.message).toContain('ghcr.io/o/app:v1');
    expect(error.message).toContain(OCI_MANIFEST);
    const list = { ...ociIndex(), mediaType: DOCKER_LIST };
    expectCode(() => parseManifest(encode(list), OCI_INDEX, 'x'), 'INVALID_MEDIA_TYPE');
  });

  it('rejects a served media type that is not a manifest', () => {
    for (const mediaType of ['application/json', 'application/vnd.oci.image.config.v1+json', 'application/vnd.oci.artifact.manifest.v1+json', '']) {
      const error = expectCode(() => parseManifest(encode(ociManifest()), mediaType, 'localhost:5000/a:b'), 'INVALID_MEDIA_TYPE');
      expect(error.message).toContain('localhost:5000/a:b');
    }
  });

  it('rejects a manifest served as an index, and an index served as a manifest', () => {
    const asIndex = ociManifest();
    delete asIndex.mediaType;
    expectCode(() => parseManifest(encode(asIndex), OCI_INDEX, 'x'), 'INVALID_MANIFEST');
    const asManifest = ociIndex();
    delete asManifest.mediaType;
    expectCode(() => parseManifest(encode(asManifest), OCI_MANIFEST, 'x'), 'INVALID_MANIFEST');
  });

  it('rejects bytes that are not JSON or not UTF-8', () => {
    const notJson = expectCode(() => parseManifest(new TextEncoder().encode('<html>502 Bad Gateway</html>'), OCI_MANIFEST, 'ghcr.io/o/a:1'), 'INVALID_MANIFEST');
    expect(notJson.message).toContain('ghcr.io/o/a:1');
    expectCode(() => parseManifest(new Uint8Array(0), OCI_MANIFEST, 'x'), 'INVALID_MANIFEST');
    // A JSON document with a lone 0xff byte inside a string: valid JSON shape, invalid UTF-8.
    const text = new TextEncoder().encode(JSON.stringify({ ...ociManifest(), annotations: { k: 'ZZ' } }));
    const at = Buffer.from(text).indexOf('ZZ');
    const bad = Uint8Array.from(text);
    bad[at] = 0xff;
    expectCode(() => parseManifest(bad, OCI_MANIFEST, 'x'), 'INVALID_MANIFEST');
    // The same bytes with valid UTF-8 in that place parse: the failure above is the encoding.
    bad[at] = 0x41;
    expect(parseManifest(bad, OCI_MANIFEST, 'x').kind).toBe('manifest');
  });

  it.each<[string, (m: Record<string, unknown>) => void, RegExp]>([
    ['no config', (m) => delete m.config, /config/],
    ['no layers', (m) => delete m.layers, /layers/],
    ['no schemaVersion', (m) => delete m.schemaVersion, /schemaVersion/],
    ['schemaVersion 1', (m) => (m.schemaVersion = 1), /schemaVersion/],
    ['schemaVersion "2"', (m) => (m.schemaVersion = '2'), /schemaVersion/],
    ['layers not an array', (m) => (m.layers = layerA), /layers/],
    ['negative size', (m) => (m.layers = [{ ...layerA, size: -1 }]), /layers\.0\.size/],
    ['non-integer size', (m) => (m.layers = [layerA, { ...layerB, size: 1.5 }]), /layers\.1\.size/],
    ['string size', (m) => (m.config = { ...config, size: '3' }), /config\.size/],
    ['size beyond 2^53', (m) => (m.config = { ...config, size: 2 ** 53 }), /config\.size/],
    ['missing size', (m) => (m.config = { mediaType: config.mediaType, digest: config.digest }), /config\.size/],
    ['missing digest', (m) => (m.config = { mediaType: config.mediaType, size: 1 }), /config\.digest/],
    ['uppercase digest', (m) => (m.layers = [{ ...layerA, digest: layerA.digest.toUpperCase() }]), /layers\.0\.digest/],
    ['truncated digest', (m) => (m.subject = { ...subject, digest: subject.digest.slice(0, -1) }), /subject\.digest/],
    ['unsupported digest algorithm', (m) => (m.config = { ...config, digest: `md5:${'0'.repeat(32)}` }), /config\.digest/],
    ['missing mediaType', (m) => (m.config = { digest: config.digest, size: 1 }), /config\.mediaType/],
    ['media type with parameters', (m) => (m.layers = [{ ...layerA, mediaType: 'text/plain; charset=utf-8' }]), /layers\.0\.mediaType/],
    ['media type without subtype', (m) => (m.config = { ...config, mediaType: 'application' }), /config\.mediaType/],
    ['bad artifactType', (m) => (m.artifactType = 'not a type'), /artifactType/],
    ['data that is not base64', (m) => (m.config = { ...config, data: 'not base64!' }), /config\.data/],
    ['annotation value that is not a string', (m) => (m.annotations = { n: 1 }), /annotations/],
  ])('rejects a manifest with %s', (_what, mutate, where) => {
    const body = ociManifest();
    mutate(body);
    const error = expectCode(() => parseManifest(encode(body), OCI_MANIFEST, 'localhost:5000/app:v1'), 'INVALID_MANIFEST');
    expect(error.message).toContain('localhost:5000/app:v1');
    expect(error.message).toMatch(where);
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', [ociManifest()]],
    ['a string', 'manifest'],
  ])('rejects a JSON document that is %s', (_what, value) => {
    expectCode(() => parseManifest(encode(value), OCI_MANIFEST, 'x'), 'INVALID_MANIFEST');
  });

  it('rejects an index with a bad platform or bad child descriptor', () => {
    expectCode(() => parseManifest(encode({ ...ociIndex(), manifests: [{ ...amd64, platform: { os: 'linux' } }] }), OCI_INDEX, 'x'), 'INVALID_MANIFEST');
    expectCode(() => parseManifest(encode({ ...ociIndex(), manifests: [{ ...amd64, size: -5 }] }), OCI_INDEX, 'x'), 'INVALID_MANIFEST');
    expectCode(() => parseManifest(encode({ schemaVersion: 2, mediaType: OCI_INDEX }), OCI_INDEX, 'x'), 'INVALID_MANIFEST');
  });
});

describe('descriptorSchema', () => {
  it('accepts the empty descriptor with its inline data, and a zero size', () => {
    expect(descriptorSchema.safeParse(emptyDescriptor).success).toBe(true);
    expect(descriptorSchema.safeParse({ ...layerB, size: 0 }).success).toBe(true);
  });

  it('accepts the largest safe size and rejects one past it', () => {
    expect(descriptorSchema.safeParse({ ...layerB, size: Number.MAX_SAFE_INTEGER }).success).toBe(true);
    expect(descriptorSchema.safeParse({ ...layerB, size: Number.MAX_SAFE_INTEGER + 1 }).success).toBe(false);
  });

  it('accepts urls and sha512 digests', () => {
    const desc = { ...layerB, digest: `sha512:${'ab'.repeat(64)}`, urls: ['https://mirror.example.com/blob'] };
    expect(descriptorSchema.parse(desc)).toEqual(desc);
  });
});

describe('parseJson with other schemas', () => {
  it('parses a string as well as bytes', () => {
    expect(parseJson(imageConfigSchema, configText, 'config')).toMatchObject({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers' } });
    expect(parseJson(imageIndexSchema, encode(ociIndex()), 'index').manifests).toHaveLength(2);
    expect(parseJson(imageManifestSchema, JSON.stringify(ociManifest()), 'm').layers).toHaveLength(2);
  });

  it('parses a registry error body, keeping detail', () => {
    const body = { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'v9' } }, { code: 'DENIED' }] };
    const parsed = parseJson(errorBodySchema, JSON.stringify(body), 'GET /v2/a/manifests/v9');
    expect(parsed.errors.map((e) => e.code)).toEqual(['MANIFEST_UNKNOWN', 'DENIED']);
    expect(parsed.errors[0]?.detail).toEqual({ Tag: 'v9' });
  });

  it.each<[string, unknown]>([
    ['no errors', {}],
    ['errors not an array', { errors: { code: 'X' } }],
    ['an error without code', { errors: [{ message: 'boom' }] }],
    ['a numeric code', { errors: [{ code: 404 }] }],
  ])('rejects an error body with %s', (_what, body) => {
    const error = expectCode(() => parseJson(errorBodySchema, JSON.stringify(body), 'GET /v2/'), 'INVALID_MANIFEST');
    expect(error.message).toContain('GET /v2/');
  });

  it('accepts tags and repositories lists that are null', () => {
    expect(parseJson(tagListSchema, '{"name":"a","tags":null}', 't').tags).toBeNull();
    expect(parseJson(tagListSchema, '{"name":"a","tags":["v1"]}', 't').tags).toEqual(['v1']);
    expect(parseJson(catalogSchema, '{"repositories":null}', 'c').repositories).toBeNull();
    expectCode(() => parseJson(tagListSchema, '{"tags":[]}', 't'), 'INVALID_MANIFEST');
  });
});
