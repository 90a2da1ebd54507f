/**
 * RemoteRepository: one repository of a registry as a store (OCI distribution spec endpoints under
 * `/v2/<name>/`): blobs, manifests, tags, deletion, cross-repository mounts and referrers.
 */
import { Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError, isStowageError, StowageError } from '../errors.js';
import { digestOf, parseDigest, verifyBytes, verifyingStream, type DigestAlgorithm } from '../oci/digest.js';
import { isManifestMediaType, isValidMediaType, manifestMediaTypes } from '../oci/media-types.js';
import { apiHost, isLoopbackRegistry, isValidRepository, isValidTag } from '../oci/reference.js';
import { canHaveSubject, referrerDescriptor, referrerInfo } from '../oci/referrers.js';
import { tagListSchema, type Descriptor } from '../oci/schemas.js';
import {
  maxManifestBytes,
  readAll,
  toReadable,
  type Content,
  type Deleter,
  type FilePusher,
  type Mounter,
  type MountOptions,
  type OperationOptions,
  type PushFileOptions,
  type PushFileResult,
  type RangeContent,
  type RangeFetcher,
  type ReferenceFetcher,
  type ReferencePusher,
  type ReferrerLister,
  type ReferrersOptions,
  type TagListOptions,
  type TagLister,
  type Target,
} from '../content/store.js';
import type { CredentialsProvider } from './auth/handler.js';
import { repositoryScope, type RepositoryAction } from './auth/scope.js';
import { abandonBody, discardBody, headerValue, HttpClient, readBody, registryError, transportError, type HttpMethod, type HttpResponse } from './http.js';
import { listPages } from './paging.js';
import {
  apiReferrerPages,
  fallbackReferrerPages,
  fetchReferrersPage,
  referrersUrl,
  updateFallbackIndex,
  type FallbackUpdateOptions,
  type FallbackUpdateResult,
  type ReferrersMode,
  type ReferrersPage,
  type ReferrersRepository,
} from './referrers.js';
import { cancelUpload, chunkedUpload, startUpload, uploadBlob, type RepositoryEndpoint, type UploadSettings } from './upload.js';
import { uploadFile } from './upload-file.js';

/** The pause before a manifest PUT refused with MANIFEST_BLOB_UNKNOWN is sent again (see `putManifest`). */
const manifestBlobUnknownPauseMs = 250;

/** Options of {@link RemoteRepository}. */
export interface RemoteRepositoryOptions {
  /** The registry as in a reference: `localhost:5000`, `[::1]:5000`, `ghcr.io`, `docker.io`. */
  registry: string;
  /** The repository path: `team/app`, `library/alpine`. */
  repository: string;
  /** Talk plain HTTP instead of HTTPS. Default: true for loopback registries (`localhost`, `127.x`, `[::1]`). */
  plainHttp?: boolean;
  /** The HTTP client to share (connections, auth cache). Default: a new one with `credentials`. */
  client?: HttpClient;
  /** Credentials per host, for a new client. Not allowed together with `client` (give them to the client). */
  credentials?: CredentialsProvider;
  /**
   * Token actions to ask for up front on this repository, for the whole operation (`['pull', 'push']` for a
   * push, `['pull']` for a pull): declared on the client for the registry's host
   * (`HttpClient.addScopes`), so every request, the first HEAD included, asks for one token that covers them
   * all. Requests still ask for their own scopes either way.
   */
  actions?: readonly RepositoryAction[];
  /** How blobs are cut into requests: the monolithic PUT limit and the PATCH chunk size. */
  uploads?: UploadSettings;
  /** How referrers are found and indexed (ORAS `--distribution-spec`); default `auto`. */
  referrers?: ReferrersMode;
  /** Timing of fallback index updates (settle delay, rounds); see `updateFallbackIndex`. */
  referrersUpdate?: Omit<FallbackUpdateOptions, 'signal'>;
}

/**
 * The `http(s)://host[:port]` base URL of a registry's API (Docker Hub's is `registry-1.docker.io`).
 * @throws StowageError `INVALID_REFERENCE` when `registry` is not a `host[:port]`.
 */
export function registryBaseUrl(registry: string, plainHttp?: boolean): URL {
  const host = apiHost(registry);
  const scheme = (plainHttp ?? isLoopbackRegistry(registry)) ? 'http' : 'https';
  let url: URL | undefined;
  if (/^[A-Za-z0-9.\-:[\]]+$/.test(host)) {
    try {
      url = new URL(`${scheme}://${host}/`);
    } catch {
      url = undefined;
    }
  }
  if (url === undefined || url.hostname === '' || url.pathname !== '/') {
    throw new StowageError('INVALID_REFERENCE', `invalid registry "${registry}": expected host[:port]`);
  }
  return url;
}

/** Builds the client a registry or repository uses from its options. */
export function clientFromOptions(options: { client?: HttpClient; credentials?: CredentialsProvider }, what: string): HttpClient {
  if (options.client !== undefined && options.credentials !== undefined) {
    throw new StowageError('INVALID_ARGUMENT', `${what}: give credentials to the HttpClient, not beside it`);
  }
  return options.client ?? new HttpClient(options.credentials === undefined ? {} : { credentials: options.credentials });
}

type Selector = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string; algorithm: DigestAlgorithm };

function contentType(response: HttpResponse): string | undefined {
  // Media types never carry parameters in OCI, but a proxy may add `; charset=utf-8`.
  return headerValue(response.headers, 'content-type')?.split(';')[0]?.trim();
}

function algorithmOf(digest: string): DigestAlgorithm | undefined {
  try {
    return parseDigest(digest).algorithm;
  } catch {
    return undefined;
  }
}

/** Pipes a response body into `sink` (a checking stream): a body failure fails `sink`, closing `sink` drops the body. */
function pipeBody(response: HttpResponse, sink: Transform, operation: string): Transform {
  const body = response.body;
  body.on('error', (error) => sink.destroy(transportError(error, response.url.host, operation, response.signal)));
  sink.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  body.pipe(sink);
  return sink;
}

/** True when a 206 answer carries `Content-Range: bytes <offset>-<size - 1>/<size or *>`. */
function servesRange(response: HttpResponse, offset: number, size: number): boolean {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headerValue(response.headers, 'content-range')?.trim() ?? '');
  if (match === null) return false;
  const [, first = '', last = '', total = ''] = match;
  return Number(first) === offset && Number(last) === size - 1 && (total === '*' || Number(total) === size);
}

/**
 * One repository of a registry, as a {@link Target} with the optional capabilities a registry has:
 * {@link ReferencePusher}, {@link ReferenceFetcher}, {@link Deleter}, {@link TagLister}, {@link Mounter},
 * {@link RangeFetcher}, {@link ReferrerLister}.
 * A manifest pushed with a `subject` is indexed as a referrer: by the registry when it answers with
 * `OCI-Subject`, else in the fallback index under the `<alg>-<hex>` tag (see `referrers.ts`); deleting it
 * takes it out again.
 * Descriptors whose media type is a manifest type go to `/manifests/`, everything else to `/blobs/`.
 * Every method takes `{signal}`; a fired signal fails with `ABORTED`. Any call may also fail with
 * `UNAUTHORIZED` (credentials missing or wrong), `DENIED`, `NETWORK` (registry unreachable) or
 * `REGISTRY_ERROR` (an answer with no better code).
 */
export class RemoteRepository implements Target, ReferencePusher, ReferenceFetcher, Deleter, TagLister, Mounter, RangeFetcher, FilePusher, ReferrerLister {
  /** The registry as given (`localhost:5000`, `docker.io`). */
  readonly registry: string;
  /** The repository path. */
  readonly repository: string;
  /** The HTTP client (share it with other repositories of the same registry). */
  readonly client: HttpClient;
  /** The API base URL, `http(s)://host[:port]/`. */
  readonly baseUrl: URL;
  private readonly endpoint: RepositoryEndpoint;
  private readonly uploads: UploadSettings;
  private referrersMode: ReferrersMode;
  private readonly referrersUpdate: Omit<FallbackUpdateOptions, 'signal'>;
  /** Whether the registry has the referrers API, once known (remembered for this repository). */
  private referrersApi: boolean | undefined;
  /** What the last fallback index update did (for tests and diagnostics). */
  lastReferrersUpdate: FallbackUpdateResult | undefined;

  /**
   * @throws StowageError `INVALID_REFERENCE` (a malformed registry or repository name), `INVALID_ARGUMENT`
   *   (both `client` and `credentials`).
   */
  constructor(options: RemoteRepositoryOptions) {
    if (!isValidRepository(options.repository)) {
      throw new StowageError('INVALID_REFERENCE', `invalid repository "${options.repository}": lowercase path components joined by "/"`);
    }
    this.registry = options.registry;
    this.repository = options.repository;
    this.baseUrl = registryBaseUrl(options.registry, options.plainHttp);
    this.client = clientFromOptions(options, `${options.registry}/${options.repository}`);
    this.endpoint = { client: this.client, base: this.baseUrl, name: this.repository };
    this.uploads = { ...options.uploads };
    this.referrersMode = options.referrers ?? 'auto';
    this.referrersUpdate = { ...options.referrersUpdate };
    if (options.actions !== undefined && options.actions.length > 0) {
      this.client.addScopes(this.baseUrl.host, [repositoryScope(this.repository, options.actions)]);
    }
  }

  /**
   * Chooses how referrers are found and indexed: `auto` (probe the API once), `api` or `tag`
   * (ORAS `--distribution-spec v1.1-referrers-api|v1.1-referrers-tag`).
   */
  useReferrers(mode: ReferrersMode): void {
    this.referrersMode = mode;
    this.referrersApi = mode === 'auto' ? undefined : mode === 'api';
  }

  /** Whether the registry has the referrers API: true or false once a request told, else undefined. */
  get referrersApiSupported(): boolean | undefined {
    return this.referrersApi;
  }

  /** `registry/repository`, with `:tag` or `@digest` when given: how messages name things. */
  display(reference?: string): string {
    const name = `${this.registry}/${this.repository}`;
    if (reference === undefined) return name;
    return reference.includes(':') ? `${name}@${reference}` : `${name}:${reference}`;
  }

  /**
   * True when the manifest or blob `desc` addresses exists (HEAD).
   * @throws StowageError `INVALID_DIGEST`, and the codes listed on the class.
   */
  async exists(desc: Descriptor, options: OperationOptions = {}): Promise<boolean> {
    const manifest = isManifestMediaType(desc.mediaType);
    const operation = `check ${manifest ? 'manifest' : 'blob'} ${this.display(desc.digest)}`;
    const digest = this.checkDigest(desc.digest, operation);
    const response = await this.request('HEAD', manifest ? `manifests/${digest}` : `blobs/${digest}`, operation, 'pull', options, {
      ...(manifest ? { accept: this.acceptFor(desc.mediaType) } : {}),
    });
    await discardBody(response);
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw await registryError(response, operation);
  }

  /**
   * Streams a blob (GET, through redirects) or a manifest (read into memory, at most 4 MiB), verified
   * against `desc`: the stream errors with `SIZE_MISMATCH` or `DIGEST_MISMATCH` instead of ending.
   * A manifest's `Content-Type` must equal `desc.mediaType`.
   * @throws StowageError `NOT_FOUND`, `TOO_LARGE`, `INVALID_MEDIA_TYPE`, `SIZE_MISMATCH`, `DIGEST_MISMATCH`,
   *   `INVALID_DIGEST`, and the codes listed on the class.
   */
  async fetch(desc: Descriptor, options: OperationOptions = {}): Promise<Readable> {
    if (isManifestMediaType(desc.mediaType)) return toReadable(await this.fetchManifestBytes(desc, options));
    const operation = `fetch blob ${this.display(desc.digest)}`;
    const digest = this.checkDigest(desc.digest, operation);
    const response = await this.request('GET', `blobs/${digest}`, operation, 'pull', options);
    if (response.status !== 200) throw await registryError(response, operation);
    const length = headerValue(response.headers, 'content-length');
    if (length !== undefined && Number(length) !== desc.size) {
      abandonBody(response);
      throw new StowageError('SIZE_MISMATCH', `${operation}: the registry sends ${length} bytes, expected ${desc.size}`);
    }
    return pipeBody(response, verifyingStream(desc, operation), operation);
  }

  /**
   * Streams a blob from `offset` on, with `Range: bytes=<offset>-` (206) when the offset is not 0. The stream
   * checks the byte count only (`SIZE_MISMATCH`): the caller verifies the digest over the whole content, so
   * the bytes are hashed once. A registry that answers 200 (it ignores `Range`), 416, or a 206 for another
   * range gets the whole blob, with offset 0.
   * @throws StowageError `INVALID_ARGUMENT` (a manifest, or an offset outside 0..size), `SIZE_MISMATCH`
   *   (a `Content-Length` that does not fit), and as {@link fetch}.
   */
  async fetchRange(desc: Descriptor, offset: number, options: OperationOptions = {}): Promise<RangeContent> {
    const operation = offset === 0 ? `fetch blob ${this.display(desc.digest)}` : `fetch blob ${this.display(desc.digest)} from byte ${offset}`;
    if (isManifestMediaType(desc.mediaType)) throw new StowageError('INVALID_ARGUMENT', `${operation}: manifests are fetched whole`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) {
      throw new StowageError('INVALID_ARGUMENT', `${operation}: the offset must be within 0..${desc.size}`);
    }
    const digest = this.checkDigest(desc.digest, operation);
    // Nothing is left to fetch; a `Range` starting at the size would be answered 416.
    if (offset > 0 && offset === desc.size) return { offset, content: toReadable(new Uint8Array(0)) };
    const response = await this.request('GET', `blobs/${digest}`, operation, 'pull', options, offset === 0 ? {} : { range: `bytes=${offset}-` });
    if (response.status === 200) {
      const length = headerValue(response.headers, 'content-length');
      if (length !== undefined && Number(length) !== desc.size) {
        abandonBody(response);
        throw new StowageError('SIZE_MISMATCH', `${operation}: the registry sends ${length} bytes, expected ${desc.size}`);
      }
      return { offset: 0, content: response.body.expectLength(desc.size, operation) };
    }
    if (offset > 0 && response.status === 206 && servesRange(response, offset, desc.size)) {
      return { offset, content: response.body.expectLength(desc.size - offset, operation) };
    }
    if (offset === 0 || (response.status !== 206 && response.status !== 416)) throw await registryError(response, operation);
    // RFC 9110 §14.2: a server may answer a range it cannot serve with the whole content.
    abandonBody(response);
    return this.fetchRange(desc, 0, options);
  }

  /**
   * Pushes a manifest (PUT by digest with `Content-Type: desc.mediaType`, at most 4 MiB) or a blob (POST an
   * upload session, then one streaming PUT, or PATCH chunks beyond the `uploads` limit). The bytes are
   * verified against `desc` as they are sent (a chunked stream before the closing PUT). A manifest with a
   * `subject` is then indexed as a referrer: nothing more when the registry answers `OCI-Subject` (or with
   * `useReferrers('api')`), else its entry is added to the fallback index, safely against other writers
   * (`updateFallbackIndex`).
   * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `TOO_LARGE`, `INVALID_DIGEST`, `IO` (the content
   *   stream failed), `NOT_FOUND` (a manifest whose blobs are missing, on some registries), and the codes
   *   listed on the class (a manifest the registry rejects is `REGISTRY_ERROR`; so is a fallback index
   *   update that could not be confirmed).
   */
  async push(desc: Descriptor, content: Content, options: OperationOptions = {}): Promise<void> {
    if (isManifestMediaType(desc.mediaType)) {
      const put = await this.putManifest(desc, content, desc.digest, `push manifest ${this.display(desc.digest)}`, options);
      await this.indexReferrer(desc, put, options);
      return;
    }
    const operation = `push blob ${this.display(desc.digest)}`;
    try {
      this.checkDigest(desc.digest, operation);
    } catch (error) {
      if (!(content instanceof Uint8Array)) content.destroy();
      throw error;
    }
    await uploadBlob(this.endpoint, desc, content, { operation, signal: options.signal, ...this.uploads });
  }

  /**
   * Uploads a local file as a blob reading it once, its digest computed as the bytes go up (PATCH chunks,
   * then a closing PUT that carries it); small files are hashed first and HEAD-checked. With a digest cache,
   * an unchanged file the repository has is skipped unread; with upload sessions, an interrupted upload of
   * the same file continues from the registry's offset. See `uploadFile` in `upload-file.ts`.
   * @throws StowageError `FILE_NOT_FOUND`, `INVALID_MEDIA_TYPE`, `IO` (also: the file changed while read),
   *   `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `TOO_LARGE`, and the codes listed on the class.
   */
  async pushFile(path: string, options: PushFileOptions = {}): Promise<PushFileResult> {
    return uploadFile(this.endpoint, path, { ...this.uploads, ...options, operation: `push ${path} to ${this.display()}` });
  }

  /**
   * Pushes a manifest under a tag in one request (PUT `/manifests/<tag>`). A digest reference must equal
   * `desc.digest`. A manifest with a `subject` is indexed as a referrer, as by {@link push}.
   * @throws StowageError `INVALID_REFERENCE`, `INVALID_ARGUMENT` (not a manifest), and as {@link push}.
   */
  async pushReference(desc: Descriptor, content: Content, reference: string, options: OperationOptions = {}): Promise<void> {
    const operation = `push manifest ${this.display(reference)}`;
    try {
      this.checkManifestReference(desc, reference, operation);
    } catch (error) {
      if (!(content instanceof Uint8Array)) content.destroy();
      throw error;
    }
    const put = await this.putManifest(desc, content, reference, operation, options);
    await this.indexReferrer(desc, put, options);
  }

  /**
   * The descriptor of the manifest a tag or digest points to: HEAD with every manifest media type in
   * `Accept`; media type from `Content-Type`, digest from `Docker-Content-Digest`, size from
   * `Content-Length`. When the registry omits the digest (ECR) it falls back to a GET and hashes the body.
   * @throws StowageError `NOT_FOUND` (naming the reference), `INVALID_REFERENCE`, `INVALID_MEDIA_TYPE`,
   *   `DIGEST_MISMATCH`, and the codes listed on the class.
   */
  async resolve(reference: string, options: OperationOptions = {}): Promise<Descriptor> {
    const operation = `resolve ${this.display(reference)}`;
    const selector = this.parseSelector(reference, operation);
    const response = await this.request('HEAD', `manifests/${reference}`, operation, 'pull', options, { accept: manifestMediaTypes.join(', ') });
    await discardBody(response);
    if (response.status !== 200) throw await registryError(response, operation);
    const mediaType = this.checkMediaType(response, operation);
    const digest = headerValue(response.headers, 'docker-content-digest');
    const size = Number(headerValue(response.headers, 'content-length'));
    if (digest === undefined || !Number.isSafeInteger(size) || size < 0 || (selector.kind === 'digest' && algorithmOf(digest) !== selector.algorithm)) {
      return (await this.fetchReference(reference, options)).descriptor;
    }
    this.checkDigest(digest, operation);
    if (selector.kind === 'digest' && digest !== selector.digest) {
      throw new StowageError('DIGEST_MISMATCH', `${operation}: the registry answered for ${digest}`);
    }
    return { mediaType, digest, size };
  }

  /**
   * Fetches a manifest by tag or digest in one GET (at most 4 MiB). The descriptor's digest is computed over
   * the bytes and checked against `Docker-Content-Digest` and, for a digest reference, against it.
   * @throws StowageError `NOT_FOUND`, `INVALID_REFERENCE`, `INVALID_MEDIA_TYPE`, `TOO_LARGE`,
   *   `SIZE_MISMATCH`, `DIGEST_MISMATCH`, and the codes listed on the class.
   */
  async fetchReference(reference: string, options: OperationOptions & { mediaTypes?: readonly string[] } = {}): Promise<{ descriptor: Descriptor; content: Readable }> {
    const operation = `fetch manifest ${this.display(reference)}`;
    const selector = this.parseSelector(reference, operation);
    const accept = (options.mediaTypes !== undefined && options.mediaTypes.length > 0 ? options.mediaTypes : manifestMediaTypes).join(', ');
    const response = await this.request('GET', `manifests/${reference}`, operation, 'pull', options, { accept });
    if (response.status !== 200) throw await registryError(response, operation);
    let mediaType: string;
    try {
      mediaType = this.checkMediaType(response, operation);
    } catch (error) {
      abandonBody(response);
      throw error;
    }
    const bytes = await readBody(response, maxManifestBytes, operation);
    const length = headerValue(response.headers, 'content-length');
    if (length !== undefined && Number(length) !== bytes.byteLength) {
      throw new StowageError('SIZE_MISMATCH', `${operation}: received ${bytes.byteLength} bytes, Content-Length says ${length}`);
    }
    const header = headerValue(response.headers, 'docker-content-digest');
    const headerAlgorithm = header === undefined ? undefined : algorithmOf(header);
    const algorithm = selector.kind === 'digest' ? selector.algorithm : (headerAlgorithm ?? 'sha256');
    const digest = digestOf(bytes, algorithm);
    if (selector.kind === 'digest' && digest !== selector.digest) {
      throw new StowageError('DIGEST_MISMATCH', `${operation}: content has digest ${digest}`);
    }
    if (header !== undefined && headerAlgorithm !== undefined && digestOf(bytes, headerAlgorithm) !== header) {
      throw new StowageError('DIGEST_MISMATCH', `${operation}: content does not match the Docker-Content-Digest ${header}`);
    }
    return { descriptor: { mediaType, digest, size: bytes.byteLength }, content: toReadable(bytes) };
  }

  /**
   * The descriptor of a blob by digest (HEAD): its size from `Content-Length`, its media type from
   * `Content-Type` (`application/octet-stream` when the registry gives none that is valid).
   * @throws StowageError `NOT_FOUND`, `INVALID_DIGEST`, `REGISTRY_ERROR` (no usable `Content-Length`), and the
   *   codes listed on the class.
   */
  async resolveBlob(digest: string, options: OperationOptions = {}): Promise<Descriptor> {
    const operation = `resolve blob ${this.display(digest)}`;
    this.checkDigest(digest, operation);
    const response = await this.request('HEAD', `blobs/${digest}`, operation, 'pull', options);
    await discardBody(response);
    if (response.status !== 200) throw await registryError(response, operation);
    const size = Number(headerValue(response.headers, 'content-length'));
    if (!Number.isSafeInteger(size) || size < 0) throw new StowageError('REGISTRY_ERROR', `${operation}: the registry sent no valid Content-Length`);
    const served = contentType(response);
    return { mediaType: served !== undefined && isValidMediaType(served) ? served : 'application/octet-stream', digest, size };
  }

  /**
   * Uploads a blob from a stream of `size` bytes read once. With `options.digest` the bytes are verified
   * against it; without, the digest is computed as they are sent (PATCH chunks, then the closing PUT carries
   * it). Returns the blob's descriptor (media type `options.mediaType`, default `application/vnd.oci.image.layer.v1.tar`).
   * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_DIGEST`, `IO`, and the codes listed on the class.
   */
  async pushStream(content: Readable, size: number, options: OperationOptions & { digest?: string; mediaType?: string } = {}): Promise<Descriptor> {
    const mediaType = options.mediaType ?? 'application/vnd.oci.image.layer.v1.tar';
    const operation = `push blob to ${this.display()}`;
    if (!Number.isSafeInteger(size) || size < 0) {
      content.destroy();
      throw new StowageError('INVALID_ARGUMENT', `${operation}: the size must be a non-negative integer`);
    }
    if (options.digest !== undefined) {
      const desc: Descriptor = { mediaType, digest: options.digest, size };
      await this.push(desc, content, options);
      return desc;
    }
    const result = await chunkedUpload(this.endpoint, { kind: 'stream', stream: content, size }, {
      operation,
      signal: options.signal,
      ...(this.uploads.chunkSize === undefined ? {} : { chunkSize: this.uploads.chunkSize }),
    });
    return { mediaType, digest: result.digest, size };
  }

  /**
   * Points a tag at the manifest `desc`: fetches its bytes by digest and PUTs them under the tag.
   * @throws StowageError `NOT_FOUND` (the manifest is not in this repository), `INVALID_REFERENCE`,
   *   `INVALID_ARGUMENT` (not a manifest), and as {@link fetch} and {@link push}.
   */
  async tag(desc: Descriptor, reference: string, options: OperationOptions = {}): Promise<void> {
    const operation = `tag ${this.display(desc.digest)} as ${reference}`;
    this.checkManifestReference(desc, reference, operation);
    const bytes = await this.fetchManifestBytes(desc, options);
    await this.putManifest(desc, bytes, reference, operation, options);
  }

  /**
   * Lists the repository's tags page by page (`GET /tags/list?last=`, following `Link` on the same origin),
   * each page sorted and holding only tags after `last`. Empty pages are skipped.
   * @throws StowageError `NOT_FOUND` (no such repository), `TOO_LARGE`, `INVALID_MANIFEST` (a page that is
   *   not a tag list), and the codes listed on the class.
   */
  tags(options: TagListOptions = {}): AsyncIterable<string[]> {
    const url = new URL(`/v2/${this.repository}/tags/list`, this.baseUrl);
    const { last } = options;
    if (last !== undefined) url.searchParams.set('last', last);
    return listPages({
      client: this.client,
      url,
      operation: `list tags of ${this.display()}`,
      scopes: [`repository:${this.repository}:pull`],
      schema: tagListSchema,
      // docker-registry 2.8 ignores `n` and `last` on tags/list and answers unsorted: the spec's order and
      // `last` are applied to each page here (a no-op for registries that honour them).
      entries: (page) => (page.tags ?? []).filter((tag) => last === undefined || tag > last).sort(),
      signal: options.signal,
    });
  }

  /**
   * Deletes a manifest (by digest) or a blob. A manifest with a `subject` also leaves the referrers: when the
   * registry has no referrers API (probed with the subject, remembered), its entry is removed from the
   * fallback index, safely against other writers.
   * @throws StowageError `NOT_FOUND`, `UNSUPPORTED` (deletion disabled on the registry), `INVALID_DIGEST`,
   *   and the codes listed on the class.
   */
  async delete(desc: Descriptor, options: OperationOptions = {}): Promise<void> {
    let subject: Descriptor | undefined;
    if (canHaveSubject(desc.mediaType) && this.referrersMode !== 'api') {
      try {
        subject = referrerInfo(await this.fetchManifestBytes(desc, options), desc.digest).subject;
      } catch (error) {
        // A manifest that cannot be read is deleted all the same (a missing one answers the DELETE with 404).
        if (isStowageError(error, 'ABORTED', 'UNAUTHORIZED', 'NETWORK')) throw error;
      }
    }
    await this.deleteManifestOrBlob(desc, options);
    if (subject === undefined) return;
    if (this.referrersMode === 'auto' && this.referrersApi === undefined) {
      const operation = `list referrers of ${this.display(subject.digest)}`;
      const page = await fetchReferrersPage(this.referrersHost(), referrersUrl(this.referrersHost(), subject.digest), { operation, first: true, signal: options.signal });
      this.referrersApi = page.supported;
    }
    if (this.referrersApi === true && this.referrersMode !== 'tag') return;
    this.lastReferrersUpdate = await updateFallbackIndex(this.referrersHost(), subject, { remove: desc.digest }, { ...this.referrersUpdate, ...signalOf(options) });
  }

  /**
   * The manifests whose `subject` is `desc`, as referrer descriptors (with `artifactType` and annotations),
   * page by page, optionally only those of `artifactType`. Uses the referrers API (`GET /referrers/<digest>`,
   * following `Link`; filtered here unless the registry says `OCI-Filters-Applied`) when the registry has it
   * (only a 200 with an OCI index counts; the answer is remembered), else the fallback index under the
   * `<alg>-<hex>` tag.
   * @throws StowageError `NOT_FOUND` (no such repository), `UNSUPPORTED` (`useReferrers('api')` on a registry
   *   without the API), `TOO_LARGE`, `INVALID_MANIFEST`, `INVALID_DIGEST`, and the codes listed on the class.
   */
  async *referrers(desc: Descriptor, options: ReferrersOptions = {}): AsyncIterable<Descriptor[]> {
    const operation = `list referrers of ${this.display(desc.digest)}`;
    this.checkDigest(desc.digest, operation);
    const host = this.referrersHost();
    const { artifactType, signal } = options;
    if (this.referrersMode !== 'tag' && this.referrersApi !== false) {
      const first: ReferrersPage = await fetchReferrersPage(host, referrersUrl(host, desc.digest, artifactType), { operation, first: true, artifactType, signal });
      if (first.supported) {
        this.referrersApi = true;
        yield* apiReferrerPages(host, first, { operation, artifactType, signal });
        return;
      }
      if (this.referrersMode === 'api') {
        throw new StowageError('UNSUPPORTED', `${operation}: the registry has no referrers API (use --distribution-spec v1.1-referrers-tag)`);
      }
      this.referrersApi = false;
    }
    yield* fallbackReferrerPages(host, desc, options);
  }

  /**
   * Deletes a manifest (by digest) or a blob, with no referrers bookkeeping.
   * @throws StowageError as {@link delete}.
   */
  private async deleteManifestOrBlob(desc: Descriptor, options: OperationOptions): Promise<void> {
    const manifest = isManifestMediaType(desc.mediaType);
    const operation = `delete ${manifest ? 'manifest' : 'blob'} ${this.display(desc.digest)}`;
    const digest = this.checkDigest(desc.digest, operation);
    const response = await this.request('DELETE', manifest ? `manifests/${digest}` : `blobs/${digest}`, operation, 'delete', options);
    if (response.status !== 202 && response.status !== 200 && response.status !== 204) throw await registryError(response, operation);
    await discardBody(response);
  }

  /**
   * Mounts a blob from another repository of the same registry (`POST ?mount=<digest>&from=<repo>`).
   * Returns true when mounted (201). When the registry wants the bytes instead (202), they come from
   * `options.content` and are uploaded into the session it opened (false once uploaded); without
   * `content`, that session is cancelled, best effort, and false returned.
   * @throws StowageError `INVALID_REFERENCE` (a malformed repository name), `INVALID_DIGEST`,
   *   `DIGEST_MISMATCH` (mounted another digest, or the uploaded bytes differ), `UNSUPPORTED`, what
   *   `content` throws, and the codes listed on the class.
   */
  async mount(desc: Descriptor, fromRepository: string, options: MountOptions = {}): Promise<boolean> {
    const operation = `mount blob ${this.display(desc.digest)} from ${fromRepository}`;
    const digest = this.checkDigest(desc.digest, operation);
    if (!isValidRepository(fromRepository)) {
      throw new StowageError('INVALID_REFERENCE', `${operation}: invalid repository "${fromRepository}"`);
    }
    if (options.content !== undefined) {
      const outcome = await uploadBlob(this.endpoint, desc, options.content, { operation, signal: options.signal, mountFrom: fromRepository, ...this.uploads });
      return outcome === 'mounted';
    }
    const start = await startUpload(this.endpoint, { operation, signal: options.signal, mount: { digest, from: fromRepository } });
    if (start.mounted) return true;
    await cancelUpload(this.endpoint, start.location, operation);
    return false;
  }

  /**
   * The repository `source` is when its blobs can be mounted here: a {@link RemoteRepository} of the same
   * registry, reached with the same client (so the same credentials), other than this one.
   */
  mountableFrom(source: unknown): string | undefined {
    if (!(source instanceof RemoteRepository) || source === this) return undefined;
    if (source.client !== this.client || source.baseUrl.href !== this.baseUrl.href || source.repository === this.repository) return undefined;
    return source.repository;
  }

  private async request(
    method: HttpMethod,
    path: string,
    operation: string,
    action: 'pull' | 'push' | 'delete',
    options: OperationOptions,
    headers: Record<string, string> = {},
  ): Promise<HttpResponse> {
    return this.client.send({
      method,
      url: new URL(`/v2/${this.repository}/${path}`, this.baseUrl),
      headers,
      operation,
      scopes: [`repository:${this.repository}:${action === 'push' ? 'pull,push' : action}`],
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  /** `mediaType` first, then the other manifest media types. */
  private acceptFor(mediaType: string): string {
    return [mediaType, ...manifestMediaTypes.filter((type) => type !== mediaType)].join(', ');
  }

  private checkDigest(digest: string, operation: string): string {
    try {
      parseDigest(digest);
    } catch (error) {
      throw new StowageError('INVALID_DIGEST', `${operation}: ${error instanceof Error ? error.message : 'invalid digest'}`, { cause: error });
    }
    return digest;
  }

  private parseSelector(reference: string, operation: string): Selector {
    if (reference.includes(':')) {
      try {
        return { kind: 'digest', digest: reference, algorithm: parseDigest(reference).algorithm };
      } catch (error) {
        throw new StowageError('INVALID_REFERENCE', `${operation}: "${reference}" is not a valid digest`, { cause: error });
      }
    }
    if (!isValidTag(reference)) throw new StowageError('INVALID_REFERENCE', `${operation}: "${reference}" is not a valid tag`);
    return { kind: 'tag', tag: reference };
  }

  private checkManifestReference(desc: Descriptor, reference: string, operation: string): void {
    if (!isManifestMediaType(desc.mediaType)) {
      throw new StowageError('INVALID_ARGUMENT', `${operation}: ${desc.mediaType} is not a manifest media type`);
    }
    this.checkDigest(desc.digest, operation);
    const selector = this.parseSelector(reference, operation);
    if (selector.kind === 'digest' && selector.digest !== desc.digest) {
      throw new StowageError('INVALID_ARGUMENT', `${operation}: the digest ${reference} is not the manifest's digest ${desc.digest}`);
    }
  }

  private checkMediaType(response: HttpResponse, operation: string): string {
    const mediaType = contentType(response);
    if (mediaType === undefined || !isValidMediaType(mediaType)) {
      throw new StowageError('INVALID_MEDIA_TYPE', `${operation}: the registry answered with Content-Type "${mediaType ?? ''}", not a media type`);
    }
    return mediaType;
  }

  private async fetchManifestBytes(desc: Descriptor, options: OperationOptions): Promise<Uint8Array> {
    const operation = `fetch manifest ${this.display(desc.digest)}`;
    const digest = this.checkDigest(desc.digest, operation);
    if (desc.size > maxManifestBytes) {
      throw new StowageError('TOO_LARGE', `${operation}: ${desc.size} bytes is over the ${maxManifestBytes}-byte limit for manifests`);
    }
    const response = await this.request('GET', `manifests/${digest}`, operation, 'pull', options, { accept: this.acceptFor(desc.mediaType) });
    if (response.status !== 200) throw await registryError(response, operation);
    const served = contentType(response);
    if (served !== desc.mediaType) {
      abandonBody(response);
      throw new StowageError('INVALID_MEDIA_TYPE', `${operation}: the registry serves it as ${served ?? '(no Content-Type)'}, expected ${desc.mediaType}`);
    }
    const bytes = await readBody(response, maxManifestBytes, operation);
    verifyBytes(bytes, desc, operation);
    return bytes;
  }

  private async putManifest(
    desc: Descriptor,
    content: Content,
    reference: string,
    operation: string,
    options: OperationOptions,
    retry = true,
  ): Promise<PutManifestResult> {
    if (desc.size > maxManifestBytes) {
      if (!(content instanceof Uint8Array)) content.destroy();
      throw new StowageError('TOO_LARGE', `${operation}: ${desc.size} bytes is over the ${maxManifestBytes}-byte limit for manifests`);
    }
    let bytes: Uint8Array;
    if (content instanceof Uint8Array) {
      bytes = content;
    } else {
      try {
        bytes = await readAll(content, maxManifestBytes, operation);
      } catch (error) {
        content.destroy();
        if (isStowageError(error)) throw error;
        throw new StowageError('IO', `${operation}: reading the content failed`, { cause: error });
      }
    }
    this.checkDigest(desc.digest, operation);
    verifyBytes(bytes, desc, operation);
    let response: HttpResponse;
    for (let attempt = 1; ; attempt++) {
      response = await this.client.send({
        method: 'PUT',
        url: new URL(`/v2/${this.repository}/manifests/${reference}`, this.baseUrl),
        headers: { 'content-type': desc.mediaType },
        body: bytes,
        // Putting the same bytes under the same reference again changes nothing: safe to retry. Except for a
        // fallback referrers index: a retry landing late would put stale content over newer writes (referrers.ts).
        idempotent: retry,
        operation,
        scopes: [`repository:${this.repository}:pull,push`],
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      if (response.status >= 200 && response.status <= 299) break;
      const error = await registryError(response, operation);
      // docker-registry 2.8: when several clients upload the same new blob at once, a manifest PUT right
      // after can be refused with MANIFEST_BLOB_UNKNOWN though the blob is there (seen in 8 of 100 racing
      // writers; ORAS hits it too). Once more after a pause; a blob that is really missing fails again.
      if (!retry || attempt > 1 || response.status !== 400 || !error.registryCodes.includes('MANIFEST_BLOB_UNKNOWN')) throw error;
      await sleep(manifestBlobUnknownPauseMs, undefined, options.signal === undefined ? {} : { signal: options.signal }).catch(() => {
        throw abortError(options.signal, operation);
      });
    }
    await discardBody(response);
    const digest = headerValue(response.headers, 'docker-content-digest');
    if (digest !== undefined && digest !== desc.digest && algorithmOf(digest) === algorithmOf(desc.digest)) {
      throw new StowageError('DIGEST_MISMATCH', `${operation}: the registry stored ${digest}, expected ${desc.digest}`);
    }
    return { bytes, subjectIndexed: headerValue(response.headers, 'oci-subject') !== undefined };
  }

  /**
   * After a manifest push: a manifest with a `subject` goes into the fallback index unless the registry
   * indexed it itself (`OCI-Subject`, distribution spec "Pushing Manifests with Subject").
   */
  private async indexReferrer(desc: Descriptor, put: PutManifestResult, options: OperationOptions): Promise<void> {
    if (!canHaveSubject(desc.mediaType)) return;
    let subject: Descriptor | undefined;
    try {
      subject = referrerInfo(put.bytes, desc.digest).subject;
    } catch {
      return;
    }
    if (subject === undefined) return;
    if (put.subjectIndexed && this.referrersMode !== 'tag') {
      this.referrersApi = true;
      return;
    }
    if (this.referrersMode === 'api') return;
    const entry = referrerDescriptor(desc, put.bytes);
    this.lastReferrersUpdate = await updateFallbackIndex(this.referrersHost(), subject, { add: entry }, { ...this.referrersUpdate, ...signalOf(options) });
  }

  /** This repository as the referrers code sees it. */
  private referrersHost(): ReferrersRepository {
    return {
      client: this.client,
      baseUrl: this.baseUrl,
      repository: this.repository,
      display: (reference) => this.display(reference),
      fetchReference: (reference, options) => this.fetchReference(reference, options),
      pushReference: async (desc, content, reference, options = {}) => {
        await this.putManifest(desc, content, reference, `push manifest ${this.display(reference)}`, options, false);
      },
      exists: (desc, options) => this.exists(desc, options),
      deleteManifest: (desc, options = {}) => this.deleteManifestOrBlob(desc, options),
    };
  }
}

/** What a manifest PUT gives back: the bytes sent, and whether the registry said it indexed the subject. */
interface PutManifestResult {
  bytes: Uint8Array;
  subjectIndexed: boolean;
}

function signalOf(options: OperationOptions): OperationOptions {
  return options.signal === undefined ? {} : { signal: options.signal };
}
