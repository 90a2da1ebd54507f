/**
 * Blob uploads (distribution spec "Pushing blobs"): open a session with POST (optionally as a cross-repository
 * mount), then one streaming monolithic PUT; cancel the session with DELETE when the upload fails.
 * Chunked uploads (PATCH) and resume will slot in beside the monolithic PUT.
 */
import { Readable } from 'node:stream';
import { describeError, isStowageError, StowageError } from '../errors.js';
import { parseDigest, verifyBytes, verifyingStream } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Content } from '../content/store.js';
import { discardBody, headerValue, registryError, type HttpClient, type HttpResponse } from './http.js';

/** Where a repository's API lives, and how to name it in messages. */
export interface RepositoryEndpoint {
  client: HttpClient;
  /** `http(s)://host[:port]` of the registry API. */
  base: URL;
  /** The repository path, e.g. `team/app`. */
  name: string;
}

/** The answer to opening an upload: mounted (nothing to send), or a session URL to send the bytes to. */
export type UploadStart = { mounted: true } | { mounted: false; location: URL };

/** Options of the upload steps. */
export interface UploadOptions {
  /** Names the operation and reference in messages. */
  operation: string;
  signal?: AbortSignal | undefined;
}

// Best-effort cleanup must not hang an aborted command.
const cancelTimeoutMs = 5_000;

function signalOption(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

/** The token scopes a push to `name` needs (and pull on the mount source). */
export function pushScopes(name: string, mountFrom?: string): string[] {
  const scopes = [`repository:${name}:pull,push`];
  if (mountFrom !== undefined && mountFrom !== name) scopes.push(`repository:${mountFrom}:pull`);
  return scopes;
}

/**
 * The upload session URL from a `Location` header, resolved against the request URL. It must stay on the
 * registry's host and must not downgrade https to http.
 * @throws StowageError `REGISTRY_ERROR`.
 */
export function uploadLocation(endpoint: RepositoryEndpoint, response: HttpResponse, operation: string): URL {
  const location = headerValue(response.headers, 'location');
  if (location === undefined || location === '') {
    throw new StowageError('REGISTRY_ERROR', `${operation}: the registry answered ${response.status} without an upload Location`);
  }
  let url: URL;
  try {
    url = new URL(location, response.url);
  } catch (error) {
    throw new StowageError('REGISTRY_ERROR', `${operation}: invalid upload Location "${location}"`, { cause: error });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host !== endpoint.base.host) {
    throw new StowageError('REGISTRY_ERROR', `${operation}: refusing an upload Location on another host (${url.origin})`);
  }
  if (endpoint.base.protocol === 'https:' && url.protocol !== 'https:') {
    throw new StowageError('REGISTRY_ERROR', `${operation}: refusing an upload Location that downgrades https to http`);
  }
  url.hash = '';
  return url;
}

/** `location` with `digest=<digest>` appended to its query (`?` or `&`), the rest of the URL kept byte for byte. */
export function withDigest(location: URL, digest: string): URL {
  const href = location.href;
  const separator = location.search === '' ? (href.endsWith('?') ? '' : '?') : href.endsWith('&') ? '' : '&';
  return new URL(`${href}${separator}digest=${encodeURIComponent(digest)}`);
}

/**
 * Opens an upload session: `POST /v2/<name>/blobs/uploads/`, or with `mount` a cross-repository mount
 * (`?mount=<digest>&from=<repo>`: 201 = mounted, 202 = a session to upload into). This request has no body,
 * so it is where credentials are negotiated before the streaming PUT.
 * @throws StowageError `UNAUTHORIZED`, `DENIED`, `NOT_FOUND`, `UNSUPPORTED`, `REGISTRY_ERROR`, `DIGEST_MISMATCH`
 *   (a mount answered with another digest), `NETWORK`, `ABORTED`.
 */
export async function startUpload(
  endpoint: RepositoryEndpoint,
  options: UploadOptions & { mount?: { digest: string; from: string } },
): Promise<UploadStart> {
  const { operation, mount } = options;
  const url = new URL(`/v2/${endpoint.name}/blobs/uploads/`, endpoint.base);
  if (mount !== undefined) {
    url.searchParams.set('mount', mount.digest);
    url.searchParams.set('from', mount.from);
  }
  const response = await endpoint.client.send({
    method: 'POST',
    url,
    headers: { 'content-length': '0' },
    operation,
    scopes: pushScopes(endpoint.name, mount?.from),
    ...signalOption(options.signal),
  });
  if (mount !== undefined && response.status === 201) {
    await discardBody(response);
    const digest = headerValue(response.headers, 'docker-content-digest');
    if (digest !== undefined && digest !== mount.digest) {
      throw new StowageError('DIGEST_MISMATCH', `${operation}: the registry mounted ${digest}, expected ${mount.digest}`);
    }
    return { mounted: true };
  }
  if (response.status !== 202) throw await registryError(response, operation);
  await discardBody(response);
  return { mounted: false, location: uploadLocation(endpoint, response, operation) };
}

/**
 * Sends the whole blob to an upload session in one streaming `PUT <location>&digest=<digest>`. A stream is
 * verified as it is sent (size and digest); bytes in memory must have been verified by the caller.
 */
async function putBlob(endpoint: RepositoryEndpoint, location: URL, desc: Descriptor, content: Content, options: UploadOptions): Promise<void> {
  const { operation } = options;
  let body: Uint8Array | Readable;
  let verifier: Readable | undefined;
  if (content instanceof Uint8Array) {
    body = content;
  } else {
    const stream = verifyingStream(desc, operation);
    content.on('error', (error) => {
      stream.destroy(isStowageError(error) ? error : new StowageError('IO', `${operation}: reading the content failed: ${describeError(error)}`, { cause: error }));
    });
    stream.once('close', () => {
      if (!content.readableEnded) content.destroy();
    });
    content.pipe(stream);
    body = stream;
    verifier = stream;
  }
  // Our own check of the bytes explains a failure better than what the transport or the registry saw.
  const ownFailure = (): StowageError | undefined => (verifier?.errored instanceof StowageError ? verifier.errored : undefined);
  let response: HttpResponse;
  try {
    response = await endpoint.client.send({
      method: 'PUT',
      url: withDigest(location, desc.digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body,
      operation,
      scopes: pushScopes(endpoint.name),
      ...signalOption(options.signal),
    });
  } catch (error) {
    throw ownFailure() ?? error;
  }
  if (response.status !== 201) {
    const own = ownFailure();
    verifier?.destroy();
    if (own !== undefined) {
      await discardBody(response);
      throw own;
    }
    throw await registryError(response, operation);
  }
  await discardBody(response);
  const digest = headerValue(response.headers, 'docker-content-digest');
  if (digest !== undefined && digest !== desc.digest && digestAlgorithm(digest) === digestAlgorithm(desc.digest)) {
    throw new StowageError('DIGEST_MISMATCH', `${operation}: the registry stored ${digest}, expected ${desc.digest}`);
  }
}

function digestAlgorithm(digest: string): string | undefined {
  try {
    return parseDigest(digest).algorithm;
  } catch {
    return undefined;
  }
}

/** Cancels an upload session (`DELETE <location>`), best effort: failures are ignored, and it gives up after 5 s. */
export async function cancelUpload(endpoint: RepositoryEndpoint, location: URL, operation: string): Promise<void> {
  try {
    const response = await endpoint.client.send({
      method: 'DELETE',
      url: location,
      operation: `${operation}: cancel upload`,
      scopes: pushScopes(endpoint.name),
      signal: AbortSignal.timeout(cancelTimeoutMs),
    });
    await discardBody(response);
  } catch {
    // The registry expires abandoned sessions on its own.
  }
}

/**
 * Uploads a blob: opens a session, PUTs the bytes in one streaming request, and cancels the session when
 * that fails. Bytes in memory are verified before any request; a stream is verified as it is sent.
 * @throws StowageError as {@link startUpload}, and `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `IO` (the content stream
 *   failed), `TOO_LARGE` from the PUT.
 */
export async function uploadBlob(endpoint: RepositoryEndpoint, desc: Descriptor, content: Content, options: UploadOptions): Promise<void> {
  if (content instanceof Uint8Array) verifyBytes(content, desc, options.operation);
  let start: UploadStart;
  try {
    start = await startUpload(endpoint, options);
  } catch (error) {
    if (!(content instanceof Uint8Array)) content.destroy();
    throw error;
  }
  if (start.mounted) return;
  try {
    await putBlob(endpoint, start.location, desc, content, options);
  } catch (error) {
    await cancelUpload(endpoint, start.location, options.operation);
    throw error;
  }
}
