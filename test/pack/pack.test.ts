import { describe, expect, it } from 'vitest';
import { isStowageError, type ErrorCode } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { Annotation, MediaType, emptyDescriptor } from '../../src/oci/media-types.js';
import { imageManifestSchema, parseJson, type Descriptor } from '../../src/oci/schemas.js';
import { annotateFile, formatCreated, packManifest, sourceDateEpoch, type PackOptions } from '../../src/pack/pack.js';

function expectCode(run: () => unknown, code: ErrorCode): void {
  try {
    run();
  } catch (error) {
    if (!isStowageError(error)) throw error;
    expect(error.code, error.message).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

// `file\n` pushed as `f.txt`, as `oras push` describes it.
const fileTxt: Descriptor = {
  mediaType: MediaType.ociLayer,
  digest: 'sha256:8b911a8716b94442f9ca3dff20584048536e4c2f47b8b5bb9096cbd43c3432d5',
  size: 5,
  annotations: { [Annotation.title]: 'f.txt' },
};

// `{"a":1}\n` given as --config cfg.json (FileStore.add puts a title on it; the packer drops it).
const configJson: Descriptor = {
  mediaType: MediaType.unknownConfig,
  digest: 'sha256:e346432021b04179518d9614f3560ccd71354a4ee101ddcb893d6959a9d6301c',
  size: 8,
  annotations: { [Annotation.title]: 'cfg.json' },
};

/**
 * Manifests `oras push --oci-layout` 1.3.3 wrote for the same inputs (and creation time): packing must give
 * the very same bytes, so the digests match.
 */
const orasCases: [string, PackOptions, string][] = [
  [
    'one file, created given as an annotation',
    { files: [fileTxt], annotations: { [Annotation.created]: '2000-01-01T00:00:00Z' } },
    'sha256:4c6843a5ded2994a30f97d13dededdb5997460309120c540b19957e5f924e270',
  ],
  [
    'HTML characters in an annotation (Go escapes them)',
    { files: [fileTxt], annotations: { 'a<b': 'c&d' }, created: new Date('2026-11-23T18:17:01Z') },
    'sha256:9d1eefe7cc6239f4d8577d26073f57064b14dcb25031768d3c2e9bf4458e9a9e',
  ],
  [
    'an annotation file: $manifest, $config and a file entry',
    {
      files: [annotateFile(fileTxt, { z: '3', a: '4' })],
      annotations: { m: '1' },
      configAnnotations: { c: '2' },
      created: new Date('2026-11-23T18:14:08Z'),
    },
    'sha256:f7fdf9cecf75f56531a1b7ad2cb9f96a38b3077f818405189234c989675d8733',
  ],
  [
    'image spec v1.0 with an annotation file',
    {
      files: [annotateFile(fileTxt, { z: '3', a: '4' })],
      annotations: { m: '1' },
      configAnnotations: { c: '2' },
      imageSpec: 'v1.0',
      created: new Date('2026-11-23T18:14:08Z'),
    },
    'sha256:d81b201760be4b15110415370b5d1b638d346e5ef8891db49d7ea882e424b8ec',
  ],
  ['image spec v1.0', { files: [fileTxt], imageSpec: 'v1.0', created: new Date('2026-11-23T18:13:52Z') }, 'sha256:eb8bfe9c6d3b980502c1e5ba70e07d6b12145448c2d8daa3499fb9e2e595fd2d'],
  [
    'image spec v1.0 with an artifact type (the config media type)',
    { files: [fileTxt], imageSpec: 'v1.0', artifactType: 'application/x.at', created: new Date('2026-11-23T18:13:52Z') },
    'sha256:8ecbce04978113ef412dc13c271d723fe5e329ec64016579cd2c8894ee64af9b',
  ],
  ['no files', { files: [], created: new Date('2026-11-23T18:13:52Z') }, 'sha256:bb57863c9c77ca6f0a7277cffa6a22d6fa46552c3a5819962260e12b5175feda'],
  ['no files, image spec v1.0', { files: [], imageSpec: 'v1.0', created: new Date('2026-11-23T18:13:52Z') }, 'sha256:1f2a83da18062336a0533a7da5a909e9566ec84900cd20f0cbb3887d92796a98'],
  [
    '--config without --artifact-type switches to v1.0',
    { files: [fileTxt], config: configJson, created: new Date('2026-11-23T18:13:52Z') },
    'sha256:7300ceb1a2375dc6858133bda1213462698d922d6dc77e5e82255d1ad93dae57',
  ],
  [
    '--config with --artifact-type stays v1.1',
    { files: [fileTxt], config: { ...configJson, mediaType: 'application/x.cfg' }, artifactType: 'application/x.at', created: new Date('2026-11-23T18:13:52Z') },
    'sha256:307b0e24d82fb58fc1f8eb9a8c1256bb6030d66dc5721f1d4fd661ad17867ac4',
  ],
  [
    'attach: a subject, as resolved from an OCI layout',
    {
      files: [fileTxt],
      artifactType: 'application/x.sig',
      subject: {
        mediaType: MediaType.ociManifest,
        digest: 'sha256:4de131d71d200f5578b63664c0cf0a49ccb2bcb9df485e31cda027b48f09336c',
        size: 1111,
        annotations: { [Annotation.refName]: 'v1', [Annotation.created]: '2026-11-23T18:11:55Z' },
        artifactType: MediaType.unknownArtifact,
      },
      created: new Date('2026-11-23T18:17:08Z'),
    },
    'sha256:42c469dabafb6482588036cfd32fc4d1b4f7cf09a52ff427a345100bed445b87',
  ],
];

describe('packManifest', () => {
  for (const [label, options, digest] of orasCases) {
    it(`writes the bytes ORAS writes: ${label}`, () => {
      const packed = packManifest(options);
      expect(packed.descriptor.digest).toBe(digest);
      expect(digestOf(packed.bytes)).toBe(digest);
      expect(packed.descriptor.size).toBe(packed.bytes.byteLength);
      // And the result parses as a manifest.
      parseJson(imageManifestSchema, packed.bytes, label);
    });
  }

  it('builds a v1.1 manifest with the empty config (data included, as ORAS writes it) and the default artifact type', () => {
    const packed = packManifest({ files: [fileTxt], created: new Date('2024-05-06T07:08:09.999Z') });
    expect(new TextDecoder().decode(packed.bytes)).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.unknown.artifact.v1",' +
        '"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="},' +
        '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:8b911a8716b94442f9ca3dff20584048536e4c2f47b8b5bb9096cbd43c3432d5","size":5,"annotations":{"org.opencontainers.image.title":"f.txt"}}],' +
        '"annotations":{"org.opencontainers.image.created":"2024-05-06T07:08:09Z"}}',
    );
    expect(packed.imageSpec).toBe('v1.1');
    expect(packed.descriptor).toEqual({
      mediaType: MediaType.ociManifest,
      digest: digestOf(packed.bytes),
      size: packed.bytes.byteLength,
      annotations: { [Annotation.created]: '2024-05-06T07:08:09Z' },
      artifactType: MediaType.unknownArtifact,
    });
    expect(packed.blobs).toEqual([{ descriptor: { ...emptyDescriptor }, bytes: new TextEncoder().encode('{}') }]);
  });

  it('uses the empty descriptor as the only layer when there are no files, and gives a v1.0 generated config no data', () => {
    const empty = parseJson(imageManifestSchema, packManifest({ files: [], created: false }).bytes, 'empty');
    expect(empty.layers).toEqual([{ ...emptyDescriptor }]);
    const old = packManifest({ files: [], imageSpec: 'v1.0', artifactType: 'application/x.kind', created: false });
    const manifest = parseJson(imageManifestSchema, old.bytes, 'v1.0');
    expect(manifest.layers).toEqual([]);
    expect(manifest.artifactType).toBeUndefined();
    expect(manifest.config).toEqual({ mediaType: 'application/x.kind', digest: emptyDescriptor.digest, size: 2 });
    expect(old.descriptor.artifactType).toBe('application/x.kind');
    expect(old.blobs.map((blob) => blob.descriptor.mediaType)).toEqual(['application/x.kind']);
  });

  it('adds the empty layer blob when a custom config is used without files', () => {
    const packed = packManifest({ files: [], config: configJson, artifactType: 'application/x.at', created: false });
    expect(packed.blobs.map((blob) => blob.descriptor.digest)).toEqual([emptyDescriptor.digest]);
    expect(packed.config.annotations).toBeUndefined();
  });

  it('follows the image spec rules', () => {
    expectCode(() => packManifest({ files: [], config: configJson, imageSpec: 'v1.1' }), 'INVALID_ARGUMENT');
    expectCode(() => packManifest({ files: [], config: configJson, artifactType: 'application/x.at', imageSpec: 'v1.0' }), 'INVALID_ARGUMENT');
    expectCode(() => packManifest({ files: [], imageSpec: 'v1.0', subject: fileTxt }), 'INVALID_ARGUMENT');
    expect(packManifest({ files: [], config: configJson, imageSpec: 'v1.0', created: false }).imageSpec).toBe('v1.0');
    expect(packManifest({ files: [], config: configJson, created: false }).imageSpec).toBe('v1.0');
    expect(packManifest({ files: [], config: configJson, artifactType: 'application/x.at', created: false }).imageSpec).toBe('v1.1');
  });

  it('validates media types', () => {
    expectCode(() => packManifest({ files: [], artifactType: 'not a type' }), 'INVALID_MEDIA_TYPE');
    expectCode(() => packManifest({ files: [{ ...fileTxt, mediaType: 'text/' }] }), 'INVALID_MEDIA_TYPE');
    expectCode(() => packManifest({ files: [], config: { ...configJson, mediaType: 'x' } }), 'INVALID_MEDIA_TYPE');
  });

  it('is reproducible with SOURCE_DATE_EPOCH, keeps a given created annotation, and omits it with created: false', () => {
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const first = packManifest({ files: [fileTxt], env });
    const second = packManifest({ files: [fileTxt], env });
    expect(Buffer.from(first.bytes).equals(Buffer.from(second.bytes))).toBe(true);
    expect(first.descriptor.annotations?.[Annotation.created]).toBe('2023-11-14T22:13:20Z');
    const given = packManifest({ files: [], annotations: { [Annotation.created]: 'yesterday' }, env });
    expect(given.descriptor.annotations?.[Annotation.created]).toBe('yesterday');
    const none = packManifest({ files: [], created: false, env });
    expect(new TextDecoder().decode(none.bytes)).not.toContain('annotations');
    expect(none.descriptor.annotations).toBeUndefined();
    expectCode(() => packManifest({ files: [], env: { SOURCE_DATE_EPOCH: '-1' } }), 'INVALID_ARGUMENT');
  });

  it('sorts annotation keys by their bytes, integer-like keys included, as Go does', () => {
    const packed = packManifest({ files: [], annotations: { b: '1', '9': '2', '10': '3', A: '4' }, created: false });
    expect(new TextDecoder().decode(packed.bytes)).toContain('"annotations":{"10":"3","9":"2","A":"4","b":"1"}');
  });
});

describe('SOURCE_DATE_EPOCH and creation times', () => {
  it('reads SOURCE_DATE_EPOCH', () => {
    expect(sourceDateEpoch({})).toBeUndefined();
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '' })).toBeUndefined();
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '0' })?.toISOString()).toBe('1970-01-01T00:00:00.000Z');
    for (const bad of ['1.5', 'abc', ' 1', '99999999999999', '253402300800']) {
      expectCode(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: bad }), 'INVALID_ARGUMENT');
    }
  });

  it('formats RFC 3339 UTC seconds', () => {
    expect(formatCreated(new Date('2024-02-29T23:59:59.999+01:00'))).toBe('2024-02-29T22:59:59Z');
    expectCode(() => formatCreated(new Date(Number.NaN)), 'INVALID_ARGUMENT');
  });
});

describe('annotateFile', () => {
  it('merges annotations over the generated ones, which an annotation file may override', () => {
    expect(annotateFile(fileTxt, undefined)).toBe(fileTxt);
    expect(annotateFile(fileTxt, { [Annotation.title]: 'other', x: 'y' }).annotations).toEqual({ [Annotation.title]: 'other', x: 'y' });
  });
});
