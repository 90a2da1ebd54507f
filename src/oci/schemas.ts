/**
 * zod schemas for the documents stowage reads from outside: descriptors, manifests, indexes, configs,
 * registry error bodies. Unknown fields are kept (documents are never re-serialised for hashing).
 */
import { z } from 'zod';
import { StowageError } from '../errors.js';
import { isValidDigest } from './digest.js';
import { isValidMediaType } from './media-types.js';

const annotations = z.record(z.string(), z.string());

/** A media type string: `type/subtype` with RFC 6838 characters (parameters are not allowed). */
export const mediaTypeSchema = z.string().refine(isValidMediaType, { message: 'invalid media type' });

/** A digest string that {@link isValidDigest} accepts. */
export const digestSchema = z.string().refine(isValidDigest, { message: 'invalid digest' });

/** Image spec, image-index.md "platform". */
export const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof platformSchema>;

/** Image spec, descriptor.md. */
export const descriptorSchema = z.looseObject({
  mediaType: mediaTypeSchema,
  digest: digestSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.base64().optional(),
  artifactType: mediaTypeSchema.optional(),
  platform: platformSchema.optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

/** Image spec, manifest.md (also accepts Docker schema 2 manifests, which share the shape). */
export const imageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: mediaTypeSchema.optional(),
  artifactType: mediaTypeSchema.optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type ImageManifest = z.infer<typeof imageManifestSchema>;

/** Image spec, image-index.md (also accepts Docker manifest lists). */
export const imageIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: mediaTypeSchema.optional(),
  artifactType: mediaTypeSchema.optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type ImageIndex = z.infer<typeof imageIndexSchema>;

/** Image spec, config.md: only the fields stowage reads. */
export const imageConfigSchema = z.looseObject({
  architecture: z.string().optional(),
  os: z.string().optional(),
  'os.version': z.string().optional(),
  variant: z.string().optional(),
});
export type ImageConfig = z.infer<typeof imageConfigSchema>;

/** Distribution spec, "Error Codes": the body of a registry error answer. */
export const errorBodySchema = z.object({
  errors: z.array(
    z.looseObject({
      code: z.string(),
      message: z.string().optional(),
      detail: z.unknown().optional(),
    }),
  ),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Distribution spec, tags list answer. */
export const tagListSchema = z.looseObject({
  name: z.string(),
  tags: z.array(z.string()).nullable(),
});

/** Distribution spec, catalog answer. */
export const catalogSchema = z.looseObject({
  repositories: z.array(z.string()).nullable(),
});

/** Image layout spec: the `oci-layout` file. */
export const ociLayoutFileSchema = z.looseObject({
  imageLayoutVersion: z.string(),
});

/**
 * Parses JSON bytes with a schema, turning any failure into a StowageError.
 * @throws StowageError `INVALID_MANIFEST` when the bytes are not JSON or do not match.
 */
export function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array | string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new StowageError('INVALID_MANIFEST', `${what}: not valid JSON`, { cause: error });
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new StowageError('INVALID_MANIFEST', `${what}: ${issue?.message ?? 'invalid'}${where}`, { cause: result.error });
  }
  return result.data;
}

/** A manifest whose kind is known from its media type. */
export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

/**
 * Parses manifest bytes according to `mediaType` (from the descriptor or `Content-Type`), and checks that a
 * `mediaType` field in the body, when present, agrees with it.
 * @throws StowageError `INVALID_MANIFEST`, `INVALID_MEDIA_TYPE`.
 */
export function parseManifest(bytes: Uint8Array, mediaType: string, what: string): ParsedManifest {
  const isIndex =
    mediaType === 'application/vnd.oci.image.index.v1+json' ||
    mediaType === 'application/vnd.docker.distribution.manifest.list.v2+json';
  const isManifest =
    mediaType === 'application/vnd.oci.image.manifest.v1+json' ||
    mediaType === 'application/vnd.docker.distribution.manifest.v2+json';
  if (!isIndex && !isManifest) {
    throw new StowageError('INVALID_MEDIA_TYPE', `${what}: "${mediaType}" is not a manifest media type`);
  }
  const parsed: ParsedManifest = isIndex
    ? { kind: 'index', mediaType, index: parseJson(imageIndexSchema, bytes, what) }
    : { kind: 'manifest', mediaType, manifest: parseJson(imageManifestSchema, bytes, what) };
  const declared = parsed.kind === 'index' ? parsed.index.mediaType : parsed.manifest.mediaType;
  if (declared !== undefined && declared !== mediaType) {
    throw new StowageError('INVALID_MEDIA_TYPE', `${what}: body declares media type ${declared} but was served as ${mediaType}`);
  }
  return parsed;
}

/** The descriptors a manifest points to: config and layers, or an index's manifests (not the subject). */
export function successors(parsed: ParsedManifest): Descriptor[] {
  return parsed.kind === 'index' ? [...parsed.index.manifests] : [parsed.manifest.config, ...parsed.manifest.layers];
}
