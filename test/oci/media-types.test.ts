import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MediaType,
  emptyDescriptor,
  emptyJson,
  isIndexMediaType,
  isManifestMediaType,
  isValidMediaType,
  manifestMediaTypes,
} from '../../src/oci/media-types.js';

describe('isValidMediaType', () => {
  it.each([
    'application/json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
    'text/plain',
    'x/y',
    'A1/B2',
    "application/a!b#c$d&e^f_g.h+i-j",
    'application/0vnd',
  ])('accepts %s', (value) => {
    expect(isValidMediaType(value)).toBe(true);
  });

  it('allows 127 characters on each side and no more', () => {
    const side = 'a'.repeat(127);
    expect(isValidMediaType(`${side}/${side}`)).toBe(true);
    expect(isValidMediaType(`${side}a/b`)).toBe(false);
    expect(isValidMediaType(`a/${side}a`)).toBe(false);
  });

  it.each([
    '',
    'application',
    'application/',
    '/json',
    'application/json/x',
    'application/json; charset=utf-8',
    'application/json;charset=utf-8',
    'application/ json',
    ' application/json',
    'application/json\n',
    'application/.json',
    'application/+json',
    '-application/json',
    'application/js*on',
    'application/js(on)',
    'application/jsön',
    'application/js~on',
  ])('rejects %j', (value) => {
    expect(isValidMediaType(value)).toBe(false);
  });

  it('accepts every media type stowage names', () => {
    for (const value of Object.values(MediaType)) expect(isValidMediaType(value)).toBe(true);
  });
});

describe('emptyDescriptor', () => {
  it('describes the two bytes {}', () => {
    expect(new TextDecoder().decode(emptyJson)).toBe('{}');
    expect(emptyDescriptor.size).toBe(emptyJson.byteLength);
    expect(emptyDescriptor.digest).toBe(`sha256:${createHash('sha256').update('{}').digest('hex')}`);
    expect(Buffer.from(emptyDescriptor.data, 'base64').toString('utf8')).toBe('{}');
    expect(emptyDescriptor.data).toBe(Buffer.from(emptyJson).toString('base64'));
    expect(emptyDescriptor.mediaType).toBe('application/vnd.oci.empty.v1+json');
  });
});

describe('manifest media type predicates', () => {
  it('recognises manifests', () => {
    expect(manifestMediaTypes[0]).toBe(MediaType.ociManifest);
    for (const value of [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.ociArtifactManifest]) {
      expect(isManifestMediaType(value)).toBe(true);
    }
    for (const value of [MediaType.ociConfig, MediaType.ociLayerGzip, MediaType.ociEmpty, 'application/json', `${MediaType.ociManifest}; charset=utf-8`]) {
      expect(isManifestMediaType(value)).toBe(false);
    }
  });

  it('recognises indexes', () => {
    expect(isIndexMediaType(MediaType.ociIndex)).toBe(true);
    expect(isIndexMediaType(MediaType.dockerManifestList)).toBe(true);
    expect(isIndexMediaType(MediaType.ociManifest)).toBe(false);
    expect(isIndexMediaType(MediaType.dockerManifest)).toBe(false);
  });
});
