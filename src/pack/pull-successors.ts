/** What a pull descends into, as ORAS pulls: files, not the config or unnamed layers. */
import { isManifestMediaType } from '../oci/media-types.js';
import type { Descriptor, ParsedManifest } from '../oci/schemas.js';
import { titleOf } from './file-refs.js';

/**
 * The children of a node that a pull copies into a `FileStore`: every manifest of an index, and of an
 * image manifest the blobs with a title (config included when titled) and any manifests it lists. The
 * subject is not followed. Pass as `copy(..., { successors: pullSuccessors })`; wrap it to pick one
 * platform of an index.
 */
export function pullSuccessors(_node: Descriptor, parsed: ParsedManifest): Descriptor[] {
  if (parsed.kind === 'index') return [...parsed.index.manifests];
  return [parsed.manifest.config, ...parsed.manifest.layers].filter((desc) => titleOf(desc) !== undefined || isManifestMediaType(desc.mediaType));
}
