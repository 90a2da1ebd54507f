/** stowage: the public library API. Nothing outside this list is public. */
export { StowageError, isStowageError, describeError, type ErrorCode } from './errors.js';
export {
  MediaType,
  Annotation,
  emptyDescriptor,
  emptyJson,
  manifestMediaTypes,
  isManifestMediaType,
  isIndexMediaType,
  isValidMediaType,
} from './oci/media-types.js';
export {
  parseDigest,
  isValidDigest,
  digestOf,
  Hasher,
  verifyingStream,
  verifyBytes,
  type DigestAlgorithm,
  type ParsedDigest,
} from './oci/digest.js';
export {
  descriptorSchema,
  imageManifestSchema,
  imageIndexSchema,
  imageConfigSchema,
  errorBodySchema,
  platformSchema,
  parseJson,
  parseManifest,
  successors,
  type Descriptor,
  type ImageManifest,
  type ImageIndex,
  type ImageConfig,
  type Platform,
  type ParsedManifest,
} from './oci/schemas.js';
export {
  parseReference,
  parseReferenceWithTags,
  parseLayoutReference,
  formatReference,
  referenceSelector,
  apiHost,
  isLoopbackRegistry,
  isValidTag,
  type Reference,
  type LayoutReference,
} from './oci/reference.js';
export * from './content/store.js';
export { copy, copyGraph, tagAll, type CopyHooks, type CopyOptions, type CopyGraphOptions, type CopyGraphResult } from './copy/copy.js';
export { copyReferrers, copyWithReferrers, type CopyReferrersOptions, type CopyWithReferrersOptions, type CopyWithReferrersResult } from './copy/referrers.js';
export { stowageVersion, userAgent } from './version.js';
export { HttpClient, type HttpClientOptions, type HttpRequest, type HttpResponse, type HttpMethod, type HttpHeaders, type HttpExchangeEvent, type HttpRetryEvent } from './registry/http.js';
export { ResponseBody } from './registry/response-body.js';
export { defaultRetryPolicy, type RetryOptions } from './registry/retry.js';
export { createDispatcher, parseResolveRule, type TransportOptions, type ResolveRule } from './registry/transport.js';
export { redactUrl, redactHeaders, redactHeaderValue } from './registry/redact.js';
export type { AuthHandler, AuthContext, Credentials, CredentialsProvider } from './registry/auth/handler.js';
export { BasicAuthHandler } from './registry/auth/basic.js';
export { RegistryAuthHandler, type RegistryAuthOptions } from './registry/auth/registry-auth.js';
export { mergeScopes, repositoryScope, scopesCover, type RepositoryAction } from './registry/auth/scope.js';
export { RemoteRepository, type RemoteRepositoryOptions } from './registry/repository.js';
export {
  readFallbackIndex,
  updateFallbackIndex,
  fallbackUpdateAnnotation,
  defaultSettleMs,
  maxReferrersPages,
  maxReferrersBytes,
  type ReferrersMode,
  type FallbackIndex,
  type FallbackUpdateOptions,
  type FallbackUpdateResult,
  type ReferrersRepository,
} from './registry/referrers.js';
export { fallbackTag, referrerDescriptor, referrerInfo, filterByArtifactType, canHaveSubject, type ReferrerInfo } from './oci/referrers.js';
export { parsePlatform, formatPlatform, platformMatches, type PlatformSelector } from './oci/platform.js';
export { selectPlatform } from './content/select-platform.js';
export { referrerTree, referrersAmong, maxReferrerDepth, type ReferrerNode, type ReferrerTreeOptions } from './content/referrers.js';
export { RemoteRegistry, type RemoteRegistryOptions, type CatalogOptions, type PingResult } from './registry/registry.js';
export { MemoryStore } from './content/memory-store.js';
export { OciLayoutStore, type OciLayoutOpenOptions } from './content/oci-layout-store.js';
export { FileStore, type FileStoreOptions, type AddOptions } from './content/file-store.js';
export { DigestCache, type DigestCacheOptions } from './content/digest-cache.js';
export { defaultStateDirectory } from './content/state-directory.js';
export type { FileIdentity } from './content/file-identity.js';
export { UploadSessions, type UploadSessionsOptions, type UploadSessionKey, type SavedUploadSession } from './registry/upload-state.js';
export { defaultChunkSize, defaultMonolithicLimit, minimumChunkSize, type UploadSettings } from './registry/upload.js';
export {
  pushArtifact,
  type PushArtifactOptions,
  type PushArtifactHooks,
  type ArtifactFile,
  type FileTransfer,
} from './pack/push-artifact.js';
export { packManifest, annotateFile, sourceDateEpoch, formatCreated, type PackOptions, type PackedManifest, type PackedBlob, type ImageSpec } from './pack/pack.js';
export {
  parseAnnotationFlags,
  parseAnnotationFile,
  readAnnotationFile,
  mergeAnnotations,
  type Annotations,
  type AnnotationFile,
  type PackAnnotations,
} from './pack/annotations.js';
export { parseFileRef, parseFileRefs, fileTitle, cleanPath, titleOf, type FileRef, type PackFile, type FileTitleOptions } from './pack/file-refs.js';
export { pullSuccessors } from './pack/pull-successors.js';
export {
  CredentialStore,
  keychainHelperName,
  type CredentialStoreOptions,
  type CredentialStoreChoice,
  type CredentialLocation,
  type PutCredentialsOptions,
  type PutCredentialsResult,
  type DeleteCredentialsResult,
} from './registry/credentials/credential-store.js';
export { DockerConfigFile, dockerConfigPath, type DockerConfigPathOptions } from './registry/credentials/config-file.js';
export { CredentialHelper, type CredentialHelperOptions } from './registry/credentials/credential-helper.js';
export { KeychainStore, defaultKeychainService, type KeychainStoreOptions } from './registry/credentials/keychain.js';
export { serveCredentialHelper, credentialsNotFoundMessage, type HelperAnswer } from './registry/credentials/helper-server.js';
export { normaliseRegistryHost, serverAddressOf, dockerHubServerAddress } from './registry/credentials/server-address.js';
export { identityTokenUsername, type StoredCredentials } from './registry/credentials/stored-credentials.js';
export {
  fetchManifest,
  fetchManifestConfig,
  pushManifest,
  resolveIfExists,
  isBlobResolver,
  isStreamPusher,
  type BlobResolver,
  type StreamPusher,
  type PushStreamOptions,
  type FetchManifestOptions,
  type FetchedManifest,
  type PushManifestOptions,
  type PushedManifest,
} from './content/manifests.js';
export { orderedDescriptor, orderedPlatform, indentJson, sortKeysDeep, sortedJsonOf } from './oci/json-format.js';
export { createIndex, updateIndex, packIndex, indexEntryOf, type PackedIndex, type IndexHooks, type PackIndexOptions, type CreateIndexOptions, type UpdateIndexOptions } from './pack/image-index.js';
