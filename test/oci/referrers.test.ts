import { describe, expect, it } from 'vitest';
import { MediaType, emptyDescriptor } from '../../src/oci/media-types.js';
import { canHaveSubject, fallbackTag, filterByArtifactType, referrerDescriptor, referrerInfo } from '../../src/oci/referrers.js';
import { formatPlatform, parsePlatform, platformMatches } from '../../src/oci/platform.js';
import { isValidTag } from '../../src/oci/reference.js';
import { expectCode } from '../helpers/expect-code.js';
import { imageManifest, randomBlob } from '../helpers/store-contract.js';

describe('fallbackTag (distribution spec, referrers tag schema)', () => {
  it('turns sha256:<hex> into sha256-<hex>', () => {
    const hex = 'a'.repeat(64);
    expect(fallbackTag(`sha256:${hex}`)).toBe(`sha256-${hex}`);
  });

  it('cuts the encoded part to 64 characters (sha512) and the algorithm to 32', () => {
    const hex = '0123456789abcdef'.repeat(8);
    expect(fallbackTag(`sha512:${hex}`)).toBe(`sha512-${hex.slice(0, 64)}`);
    const algorithm = 'x'.repeat(40);
    expect(fallbackTag(`${algorithm}:abc`)).toBe(`${'x'.repeat(32)}-abc`);
  });

  it('replaces characters a tag cannot hold with "-", and always gives a valid tag', () => {
    expect(fallbackTag('sha256+b64u:ab=cd')).toBe('sha256-b64u-ab-cd');
    expect(fallbackTag('multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8')).toBe('multihash-base58-QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8');
    expect(isValidTag(fallbackTag(`sha512:${'f'.repeat(128)}`))).toBe(true);
  });
});

describe('referrer descriptors', () => {
  const subject = { mediaType: MediaType.ociManifest, digest: `sha256:${'1'.repeat(64)}`, size: 10 };

  it('copies artifactType and annotations in', () => {
    const manifest = imageManifest({ ...emptyDescriptor }, [randomBlob(4).desc], { artifactType: 'application/vnd.example.sbom', subject, annotations: { a: '1' } });
    expect(referrerDescriptor(manifest.desc, manifest.bytes)).toEqual({ ...manifest.desc, annotations: { a: '1' }, artifactType: 'application/vnd.example.sbom' });
    expect(referrerInfo(manifest.bytes, 'm').subject?.digest).toBe(subject.digest);
  });

  it('takes the config media type as the artifact type when the manifest has none', () => {
    const config = randomBlob(4, 'application/vnd.example.config+json').desc;
    const manifest = imageManifest(config, [], { subject });
    expect(referrerDescriptor(manifest.desc, manifest.bytes).artifactType).toBe('application/vnd.example.config+json');
    expect(referrerDescriptor(manifest.desc, manifest.bytes).annotations).toBeUndefined();
  });

  it('rejects bytes that are not a manifest', () => {
    expectCode(() => referrerDescriptor(randomBlob(4).desc, new TextEncoder().encode('[1,2]')), 'INVALID_MANIFEST');
  });

  it('filters by artifact type, all of them without one', () => {
    const a = { ...randomBlob(1).desc, artifactType: 'application/a' };
    const b = { ...randomBlob(1).desc, artifactType: 'application/b' };
    expect(filterByArtifactType([a, b], 'application/b')).toEqual([b]);
    expect(filterByArtifactType([a, b], undefined)).toEqual([a, b]);
    expect(filterByArtifactType([a, b], '')).toEqual([a, b]);
  });

  it('knows which manifests can have a subject', () => {
    expect(canHaveSubject(MediaType.ociManifest)).toBe(true);
    expect(canHaveSubject(MediaType.ociIndex)).toBe(true);
    expect(canHaveSubject(MediaType.dockerManifest)).toBe(false);
  });
});

describe('platforms', () => {
  it('parses os[/arch][/variant][:os_version]', () => {
    expect(parsePlatform('linux')).toEqual({ os: 'linux' });
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('windows/amd64:10.0.17763.1')).toEqual({ os: 'windows', architecture: 'amd64', osVersion: '10.0.17763.1' });
    expect(formatPlatform(parsePlatform('windows/amd64:10.0'))).toBe('windows/amd64:10.0');
  });

  it('refuses what is not a platform', () => {
    for (const value of ['', 'linux//amd64', 'a/b/c/d', 'linux/amd64:', 'linux amd64']) expectCode(() => parsePlatform(value), 'INVALID_ARGUMENT');
  });

  it('matches only the fields asked for', () => {
    const platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
    expect(platformMatches(platform, { os: 'linux' })).toBe(true);
    expect(platformMatches(platform, { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches(platform, { os: 'linux', architecture: 'amd64' })).toBe(false);
    expect(platformMatches(platform, { os: 'linux', architecture: 'arm64', variant: 'v7' })).toBe(false);
    expect(platformMatches(undefined, { os: 'linux' })).toBe(false);
  });
});
