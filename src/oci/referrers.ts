/**
 * The vocabulary of referrers (distribution spec 1.1, "Listing Referrers" and "Referrers Tag Schema"): the
 * fallback tag of a subject, and the descriptor a referrer is listed under.
 */
import { z } from 'zod';
import { MediaType } from './media-types.js';
import { descriptorSchema, mediaTypeSchema, parseJson, type Descriptor } from './schemas.js';

/**
 * The tag that holds the referrers index of `digest` where the registry has no referrers API
 * (distribution spec, "Referrers Tag Schema"): `<alg>-<ref>`, the algorithm cut to 32 characters and the
 * encoded part to 64, every character a tag cannot hold (anything but `[a-zA-Z0-9._-]`) replaced by `-`.
 * `sha256:abc…` gives `sha256-abc…`.
 */
export function fallbackTag(digest: string): string {
  const colon = digest.indexOf(':');
  const algorithm = colon < 0 ? digest : digest.slice(0, colon);
  const encoded = colon < 0 ? '' : digest.slice(colon + 1);
  const clean = (value: string): string => value.replace(/[^a-zA-Z0-9._-]/g, '-');
  return `${clean(algorithm.slice(0, 32))}-${clean(encoded.slice(0, 64))}`;
}

/** The fields of a manifest (image manifest or index) a referrer listing needs. */
const referrerFieldsSchema = z.looseObject({
  mediaType: mediaTypeSchema.optional(),
  artifactType: mediaTypeSchema.optional(),
  config: z.looseObject({ mediaType: mediaTypeSchema }).optional(),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** What a manifest says about itself as a referrer. */
export interface ReferrerInfo {
  /** The manifest's `subject`, when it has one. */
  subject?: Descriptor;
  /** Its `artifactType`, else (an image manifest) its config media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * Reads the referrer fields of manifest bytes: `subject`, the artifact type and annotations.
 * @throws StowageError `INVALID_MANIFEST` when the bytes are not a JSON object of that shape.
 */
export function referrerInfo(bytes: Uint8Array, what: string): ReferrerInfo {
  const fields = parseJson(referrerFieldsSchema, bytes, what);
  const info: ReferrerInfo = {};
  if (fields.subject !== undefined) info.subject = fields.subject;
  const artifactType = fields.artifactType ?? fields.config?.mediaType;
  if (artifactType !== undefined) info.artifactType = artifactType;
  if (fields.annotations !== undefined && Object.keys(fields.annotations).length > 0) info.annotations = { ...fields.annotations };
  return info;
}

/**
 * The descriptor a referrer is listed under in a referrers index (image spec, image-index.md, and
 * distribution spec "Listing Referrers"): media type, digest and size of the manifest, with its
 * `artifactType` (the manifest's, else its config media type) and its `annotations` copied in.
 * @throws StowageError `INVALID_MANIFEST` when `bytes` is not a manifest.
 */
export function referrerDescriptor(desc: Descriptor, bytes: Uint8Array): Descriptor {
  const info = referrerInfo(bytes, desc.digest);
  const out: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (info.annotations !== undefined) out.annotations = info.annotations;
  if (info.artifactType !== undefined) out.artifactType = info.artifactType;
  return out;
}

/** Manifest media types that can carry a `subject` (OCI image manifest and index). */
export function canHaveSubject(mediaType: string): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.ociIndex;
}

/** Keeps the descriptors of `artifactType` (all of them when it is undefined or empty). */
export function filterByArtifactType(descriptors: readonly Descriptor[], artifactType: string | undefined): Descriptor[] {
  if (artifactType === undefined || artifactType === '') return [...descriptors];
  return descriptors.filter((desc) => desc.artifactType === artifactType);
}
