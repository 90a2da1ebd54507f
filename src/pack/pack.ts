/**
 * Packs files into the artifact manifest ORAS would write for push and attach (image spec 1.1 by default,
 * 1.0 on request or when a config is given without an artifact type). The manifest is serialised once,
 * byte for byte as ORAS (Go's encoding/json) would, and its digest is over exactly those bytes.
 */
import { StowageError } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import { Annotation, MediaType, emptyDescriptor, emptyJson, isValidMediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Annotations } from './annotations.js';

/** The OCI image spec version a manifest is packed for. */
export type ImageSpec = 'v1.1' | 'v1.0';

/** What {@link packManifest} packs. */
export interface PackOptions {
  /** The layers, in order: descriptors from `FileStore.add`, per-file annotations already applied. */
  files: readonly Descriptor[];
  /** The manifest's `artifactType` (1.1), or the config media type of a generated config (1.0). */
  artifactType?: string;
  /**
   * A config blob the caller has put in the store (`FileStore.add(path, { mediaType })` or `addBytes`).
   * Its annotations are replaced by `configAnnotations`. Without an artifact type it selects image spec 1.0.
   */
  config?: Descriptor;
  /** Manifest annotations. An `org.opencontainers.image.created` given here is kept. */
  annotations?: Annotations;
  /** Annotations of the config descriptor (`$config` of an annotation file). */
  configAnnotations?: Annotations;
  /** Explicit image spec (ORAS `--image-spec`); default: 1.1, or 1.0 when `config` is given without `artifactType`. */
  imageSpec?: ImageSpec;
  /** The manifest this one refers to (attach); image spec 1.1 only. */
  subject?: Descriptor;
  /**
   * The `org.opencontainers.image.created` timestamp: a date, or `false` for none. Default: the
   * `SOURCE_DATE_EPOCH` of `env` when set (reproducible builds), else now.
   */
  created?: Date | false;
  /** Where `SOURCE_DATE_EPOCH` is read from; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Content the caller must put in the store with the manifest. */
export interface PackedBlob {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/** A packed manifest. */
export interface PackedManifest {
  /** The manifest's descriptor, with `artifactType` and the manifest annotations (as ORAS returns it). */
  descriptor: Descriptor;
  /** The manifest bytes the digest is over. */
  bytes: Uint8Array;
  /** The image spec the manifest follows. */
  imageSpec: ImageSpec;
  /** The config descriptor written in the manifest. */
  config: Descriptor;
  /** Blobs the packer generated (a `{}` config), to push alongside the manifest. */
  blobs: PackedBlob[];
}

/**
 * Builds an artifact manifest the way ORAS 1.3 does:
 * - 1.1: config is `config` (which then needs `artifactType`) or the empty descriptor; `artifactType` is
 *   the given one, or `application/vnd.unknown.artifact.v1`; no files makes the empty descriptor the one layer.
 * - 1.0: config is `config`, or `{}` with media type `artifactType` (default
 *   `application/vnd.unknown.config.v1+json`); no `artifactType` field; `layers` may be empty; no subject.
 * - `org.opencontainers.image.created` (RFC 3339, UTC, seconds) is added unless given or `created: false`.
 * @throws StowageError `INVALID_ARGUMENT` for contradicting options (1.1 with a config and no artifact type,
 *   1.0 with both, 1.0 with a subject, an invalid date or `SOURCE_DATE_EPOCH`), `INVALID_MEDIA_TYPE` for a
 *   malformed media type.
 */
export function packManifest(options: PackOptions): PackedManifest {
  const imageSpec = chooseImageSpec(options);
  checkMediaTypes(options);
  const configAnnotations = options.configAnnotations ?? {};
  const blobs: PackedBlob[] = [];

  let config: Descriptor;
  if (options.config !== undefined) {
    config = withAnnotations(stripAnnotations(options.config), configAnnotations);
  } else if (imageSpec === 'v1.1') {
    config = withAnnotations({ ...emptyDescriptor }, configAnnotations);
    blobs.push({ descriptor: { ...emptyDescriptor }, bytes: emptyJson });
  } else {
    const generated: Descriptor = { mediaType: options.artifactType ?? MediaType.unknownConfig, digest: emptyDescriptor.digest, size: emptyDescriptor.size };
    config = withAnnotations(generated, configAnnotations);
    blobs.push({ descriptor: generated, bytes: emptyJson });
  }

  let layers: readonly Descriptor[] = options.files;
  if (layers.length === 0 && imageSpec === 'v1.1') {
    layers = [{ ...emptyDescriptor }];
    if (options.config !== undefined) blobs.push({ descriptor: { ...emptyDescriptor }, bytes: emptyJson });
  }

  const annotations: Annotations = { ...(options.annotations ?? {}) };
  const created = createdTimestamp(options);
  if (created !== undefined && !Object.hasOwn(annotations, Annotation.created)) annotations[Annotation.created] = created;

  const artifactType = imageSpec === 'v1.1' ? (options.artifactType ?? MediaType.unknownArtifact) : undefined;
  // Field order of oras-go's ocispec.Manifest: schemaVersion, mediaType, artifactType, config, layers, subject, annotations.
  const fields: [string, JsonValue][] = [
    ['schemaVersion', 2],
    ['mediaType', MediaType.ociManifest],
  ];
  if (artifactType !== undefined) fields.push(['artifactType', artifactType]);
  fields.push(['config', descriptorJson(config)], ['layers', layers.map(descriptorJson)]);
  if (options.subject !== undefined) fields.push(['subject', descriptorJson(options.subject)]);
  const annotationsJson = mapJson(annotations);
  if (annotationsJson !== undefined) fields.push(['annotations', annotationsJson]);

  const bytes = new TextEncoder().encode(encodeJson(new JsonObject(fields)));
  const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: digestOf(bytes), size: bytes.byteLength };
  if (Object.keys(annotations).length > 0) descriptor.annotations = annotations;
  descriptor.artifactType = artifactType ?? config.mediaType;
  return { descriptor, bytes, imageSpec, config, blobs };
}

/**
 * A file descriptor with `extra` annotations merged over its own (an annotation file may override the
 * title or `io.deis.oras.content.unpack`, as in ORAS).
 */
export function annotateFile(desc: Descriptor, extra: Annotations | undefined): Descriptor {
  if (extra === undefined || Object.keys(extra).length === 0) return desc;
  return { ...desc, annotations: { ...(desc.annotations ?? {}), ...extra } };
}

/**
 * The time `SOURCE_DATE_EPOCH` names (reproducible-builds.org), or undefined when it is unset or empty.
 * @throws StowageError `INVALID_ARGUMENT` when it is not a whole number of seconds in 0..253402300799.
 */
export function sourceDateEpoch(env: Readonly<Record<string, string | undefined>> = process.env): Date | undefined {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  const seconds = /^[0-9]{1,12}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds <= 253402300799)) {
    throw new StowageError('INVALID_ARGUMENT', `SOURCE_DATE_EPOCH="${value}": expected seconds since 1970-01-01 (a whole number up to year 9999)`);
  }
  return new Date(seconds * 1000);
}

/**
 * RFC 3339 in UTC to the second, as ORAS writes `org.opencontainers.image.created`: `2024-01-02T03:04:05Z`.
 * @throws StowageError `INVALID_ARGUMENT` for an invalid date or one outside years 0..9999.
 */
export function formatCreated(date: Date): string {
  const time = date.getTime();
  if (Number.isNaN(time) || date.getUTCFullYear() < 0 || date.getUTCFullYear() > 9999) {
    throw new StowageError('INVALID_ARGUMENT', `invalid creation time ${String(date)}`);
  }
  return new Date(Math.floor(time / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function chooseImageSpec(options: PackOptions): ImageSpec {
  const hasConfig = options.config !== undefined;
  const hasArtifactType = options.artifactType !== undefined;
  switch (options.imageSpec) {
    case undefined:
      return hasConfig && !hasArtifactType ? 'v1.0' : 'v1.1';
    case 'v1.1':
      if (hasConfig && !hasArtifactType) {
        throw new StowageError('INVALID_ARGUMENT', 'image spec v1.1 with a config needs an artifact type: set --artifact-type, or use image spec v1.0');
      }
      return 'v1.1';
    case 'v1.0':
      if (hasConfig && hasArtifactType) {
        throw new StowageError('INVALID_ARGUMENT', 'image spec v1.0 cannot have both a config and an artifact type (the artifact type is the config media type)');
      }
      if (options.subject !== undefined) {
        throw new StowageError('INVALID_ARGUMENT', 'image spec v1.0 manifests cannot have a subject: use image spec v1.1');
      }
      return 'v1.0';
    default:
      throw new StowageError('INVALID_ARGUMENT', `unknown image spec "${String(options.imageSpec)}": expected v1.1 or v1.0`);
  }
}

function checkMediaTypes(options: PackOptions): void {
  const check = (value: string | undefined, what: string): void => {
    if (value !== undefined && !isValidMediaType(value)) {
      throw new StowageError('INVALID_MEDIA_TYPE', `invalid ${what} "${value}": expected type/subtype`);
    }
  };
  check(options.artifactType, 'artifact type');
  check(options.config?.mediaType, 'config media type');
  check(options.subject?.mediaType, 'subject media type');
  for (const file of options.files) {
    check(file.mediaType, `media type of ${file.annotations?.[Annotation.title] ?? file.digest}`);
  }
}

function createdTimestamp(options: PackOptions): string | undefined {
  if (options.created === false) return undefined;
  return formatCreated(options.created ?? sourceDateEpoch(options.env) ?? new Date());
}

function stripAnnotations(desc: Descriptor): Descriptor {
  const { annotations: _annotations, ...rest } = desc;
  return rest;
}

function withAnnotations(desc: Descriptor, annotations: Annotations): Descriptor {
  return Object.keys(annotations).length === 0 ? desc : { ...desc, annotations: { ...annotations } };
}

// Go's encoding/json writes struct fields in declaration order and map keys sorted by their UTF-8 bytes;
// JavaScript objects put integer-like keys first, so objects are built as ordered entry lists here.
type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

class JsonObject {
  constructor(readonly entries: readonly (readonly [string, JsonValue])[]) {}
}

function mapJson(map: Readonly<Record<string, string>> | undefined): JsonObject | undefined {
  if (map === undefined) return undefined;
  const keys = Object.keys(map).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (keys.length === 0) return undefined;
  return new JsonObject(keys.map((key) => [key, map[key] ?? '']));
}

/** A descriptor in the field order of oras-go's ocispec.Descriptor; fields it does not know are dropped. */
function descriptorJson(desc: Descriptor): JsonObject {
  const fields: [string, JsonValue][] = [
    ['mediaType', desc.mediaType],
    ['digest', desc.digest],
    ['size', desc.size],
  ];
  if (desc.urls !== undefined && desc.urls.length > 0) fields.push(['urls', desc.urls]);
  const annotations = mapJson(desc.annotations);
  if (annotations !== undefined) fields.push(['annotations', annotations]);
  if (desc.data !== undefined && desc.data !== '') fields.push(['data', desc.data]);
  if (desc.platform !== undefined) {
    const p = desc.platform;
    const platform: [string, JsonValue][] = [['architecture', p.architecture], ['os', p.os]];
    if (p['os.version'] !== undefined && p['os.version'] !== '') platform.push(['os.version', p['os.version']]);
    if (p['os.features'] !== undefined && p['os.features'].length > 0) platform.push(['os.features', p['os.features']]);
    if (p.variant !== undefined && p.variant !== '') platform.push(['variant', p.variant]);
    if (p.features !== undefined && p.features.length > 0) platform.push(['features', p.features]);
    fields.push(['platform', new JsonObject(platform)]);
  }
  if (desc.artifactType !== undefined && desc.artifactType !== '') fields.push(['artifactType', desc.artifactType]);
  return new JsonObject(fields);
}

// Go escapes these even inside strings (HTML safety, and the JavaScript line terminators).
const goEscapes = /[<>&\u2028\u2029]/g;

function encodeJson(value: JsonValue): string {
  if (value instanceof JsonObject) {
    return `{${value.entries.map(([key, item]) => `${encodeString(key)}:${encodeJson(item)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(encodeJson).join(',')}]`;
  if (typeof value === 'string') return encodeString(value);
  return JSON.stringify(value);
}

function encodeString(value: string): string {
  return JSON.stringify(value).replace(goEscapes, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
