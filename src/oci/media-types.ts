/** OCI and Docker media types, and the empty descriptor of the OCI image spec 1.1. */

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  /** The pre-release OCI artifact manifest (never standardised; most registries reject it). */
  ociArtifactManifest: 'application/vnd.oci.artifact.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** ORAS's default artifact type when neither `--artifact-type` nor `--config` is given. */
  unknownArtifact: 'application/vnd.unknown.artifact.v1',
  /** ORAS's default config media type for image spec 1.0 pushes. */
  unknownConfig: 'application/vnd.unknown.config.v1+json',
} as const;

/** The manifest media types stowage sends in `Accept`, most preferred first. */
export const manifestMediaTypes: readonly string[] = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
];

/** Media types of documents that are manifests (stored under /manifests/ in a registry). */
export function isManifestMediaType(mediaType: string): boolean {
  return manifestMediaTypes.includes(mediaType) || mediaType === MediaType.ociArtifactManifest;
}

/** Media types of documents that list other manifests. */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

/** The content of the empty descriptor: the two bytes `{}`. */
export const emptyJson: Uint8Array = new TextEncoder().encode('{}');

/** The OCI 1.1 empty descriptor (image spec, "Guidance for an Empty Descriptor"). */
export const emptyDescriptor = {
  mediaType: MediaType.ociEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
} as const;

/** Annotation keys stowage reads and writes. */
export const Annotation = {
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  refName: 'org.opencontainers.image.ref.name',
  /** ORAS: sha256 of the uncompressed tar of a pushed directory. */
  contentDigest: 'io.deis.oras.content.digest',
  /** ORAS: "true" when a layer is a directory to unpack on pull. */
  contentUnpack: 'io.deis.oras.content.unpack',
} as const;

// RFC 6838 section 4.2: restricted-name = first char alphanumeric, then up to 126 of these characters.
const restrictedName = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}";
const mediaTypePattern = new RegExp(`^${restrictedName}/${restrictedName}$`);

/** True when `value` is a `type/subtype` media type (RFC 6838 characters, 127 each, no parameters). */
export function isValidMediaType(value: string): boolean {
  return mediaTypePattern.test(value);
}
