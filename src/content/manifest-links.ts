/** The edges of the content graph a manifest document adds: what it points to, and its subject. */
import { z } from 'zod';
import { MediaType } from '../oci/media-types.js';
import { descriptorSchema, mediaTypeSchema, parseJson, parseManifest, successors, type Descriptor } from '../oci/schemas.js';

/** The pre-release OCI artifact manifest: `blobs` instead of config and layers. */
const artifactManifestSchema = z.looseObject({
  mediaType: z.literal(MediaType.ociArtifactManifest),
  artifactType: mediaTypeSchema.optional(),
  blobs: z.array(descriptorSchema).optional(),
  subject: descriptorSchema.optional(),
});

/** What a manifest points to. */
export interface ManifestLinks {
  /** Config and layers, an index's manifests, or an artifact manifest's blobs. */
  successors: Descriptor[];
  /** The manifest this one refers to (OCI 1.1 `subject`). */
  subject?: Descriptor;
}

/**
 * Parses a manifest of any manifest media type and returns its edges.
 * @throws StowageError `INVALID_MANIFEST`, `INVALID_MEDIA_TYPE`.
 */
export function manifestLinks(bytes: Uint8Array, mediaType: string, what: string): ManifestLinks {
  if (mediaType === MediaType.ociArtifactManifest) {
    const artifact = parseJson(artifactManifestSchema, bytes, what);
    const links: ManifestLinks = { successors: artifact.blobs ?? [] };
    if (artifact.subject !== undefined) links.subject = artifact.subject;
    return links;
  }
  const parsed = parseManifest(bytes, mediaType, what);
  const links: ManifestLinks = { successors: successors(parsed) };
  const subject = parsed.kind === 'index' ? parsed.index.subject : parsed.manifest.subject;
  if (subject !== undefined) links.subject = subject;
  return links;
}

/** True when `links` has an edge to `digest` (as a successor or as the subject). */
export function linksTo(links: ManifestLinks, digest: string): boolean {
  return links.subject?.digest === digest || links.successors.some((successor) => successor.digest === digest);
}
