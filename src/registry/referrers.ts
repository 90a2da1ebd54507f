/**
 * Referrers on a registry (distribution spec 1.1): the referrers API (`GET /v2/<name>/referrers/<digest>`),
 * and, where a registry has none (most do not), the referrers tag schema: an OCI index of referrer
 * descriptors under the tag `<alg>-<hex>` of the subject, which clients keep up to date themselves.
 *
 * ## Why the fallback index never loses an entry
 *
 * A tag is a register with last-writer-wins semantics: a PUT replaces whatever was there, and the
 * distribution API has no compare-and-swap. Two writers that both read the index, add their entry and
 * write it back lose one entry (ORAS measurably keeps 6 of 10 with ten parallel `oras attach`). A plain
 * "write, read back, retry until my entry is there" loop is not enough either: a writer X that read the
 * index *before* my write can still overwrite it *after* my read-back succeeded, and nothing would
 * notice. {@link updateFallbackIndex} closes that hole with three rules:
 *
 * 1. **Merge everything ever seen.** A writer keeps every entry it has read in any version of the index
 *    (plus its own) and writes the union of the current index and that set. An entry that disappeared from
 *    the index between two reads is written again, unless a HEAD says its manifest is gone (so a deleted
 *    referrer is not resurrected and lost updates are told apart from deletions).
 * 2. **Verify the whole set after a settle delay.** After writing, a writer waits `settle` (much longer than
 *    any writer's read-to-write window: at least {@link defaultSettleMs}, and four times its own measured
 *    window) and reads again. It is done only when *every* entry it knows (not just its own) is in the
 *    index; otherwise it merges and writes again (bounded attempts, the delay jittered).
 * 3. **Keep the read-to-write window short.** The HEAD checks of rule 1 happen before a fresh read that is
 *    followed directly by the PUT, so the window is one GET and one PUT; the PUT is never retried by the
 *    HTTP layer (a retry landing seconds later would write stale content), the loop reads afresh instead.
 *
 * Why that is enough: suppose writer X overwrites the value V that writer Z wrote, and drops an entry E of
 * V. X's read did not return V (X would have merged E), so X read before Z's write, and X's write lands
 * within X's read-to-write window W of Z's write. Z reads again only after `settle` > W, so Z sees the
 * damage, and as Z's set contains all of V, Z writes E back. Every value that ever held E was written by a
 * writer that still verifies it, so E can only be dropped while someone who knows it is watching; the last
 * write of all is verified by its writer, so the final index holds every entry any finished writer knew.
 * The argument needs two things of every writer: W < settle, and that it lives through its checks. A
 * writer stalled longer than `settle` between its GET and its PUT (a suspended process), or one killed
 * during its settle delay (Ctrl-C) while someone overwrites its value, is the case it cannot cover; hence
 * the window is kept to two requests and `settle` grows with the measured latency. Writers that do not
 * follow the protocol (ORAS: one read-modify-write) are covered as long as their window is shorter than
 * `settle`: their overwrite is repaired by the writer whose value they overwrote, and their own entry is
 * kept by every stowage writer that has seen it.
 *
 * docker-registry refuses (400 `MANIFEST_BLOB_UNKNOWN`) an index that lists a manifest it does not have, so
 * a write that fails that way HEADs the entries and drops the ones that are gone (a referrer deleted
 * meanwhile, or a dangling entry another tool left behind) before trying again.
 *
 * Old index manifests are deleted once the update is confirmed (oras#1228: they pile up otherwise). On
 * docker-registry, deleting a manifest by digest also deletes every tag pointing to it, so an old index is
 * deleted only when the fallback tag points elsewhere, and every index stowage writes carries a random
 * {@link fallbackUpdateAnnotation}: its bytes are unique, so once the tag has moved away from it, no writer
 * can move the tag back to that digest between the check and the DELETE.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { abortError, isStowageError, StowageError, throwIfAborted } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import { isManifestMediaType, MediaType } from '../oci/media-types.js';
import { fallbackTag, filterByArtifactType } from '../oci/referrers.js';
import { errorBodySchema, imageIndexSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import { maxManifestBytes, readAll, type Content, type OperationOptions, type ReferrersOptions } from '../content/store.js';
import { discardBody, headerValue, readBody, registryError, type HttpClient, type HttpResponse } from './http.js';
import { nextPageUrl } from './paging.js';

/**
 * How a repository finds referrers (ORAS `--distribution-spec`): `auto` probes the referrers API once and
 * remembers the answer, `api` uses only the API (`v1.1-referrers-api`), `tag` only the tag schema
 * (`v1.1-referrers-tag`).
 */
export type ReferrersMode = 'auto' | 'api' | 'tag';

/** Bytes read per referrers answer or fallback index: 4 MiB. */
export const maxReferrersBytes = maxManifestBytes;
/** Pages of a referrers listing followed before giving up. */
export const maxReferrersPages = 1000;
/** The shortest wait between writing the fallback index and checking it (see the module comment). */
export const defaultSettleMs = 400;
/** Rounds of read, merge, write and verify before an update of the fallback index gives up. */
export const defaultMaxAttempts = 40;
/** Failed PUTs of the fallback index (5xx, resets) an update goes round again after, before failing. */
const maxPutFailures = 3;
/** The annotation that makes every fallback index stowage writes unique (see the module comment). */
export const fallbackUpdateAnnotation = 'io.stowage.referrers.update';

/** What the referrers code needs of a repository (RemoteRepository gives it). */
export interface ReferrersRepository {
  readonly client: HttpClient;
  readonly baseUrl: URL;
  readonly repository: string;
  display(reference?: string): string;
  fetchReference(reference: string, options?: OperationOptions): Promise<{ descriptor: Descriptor; content: Readable }>;
  pushReference(desc: Descriptor, content: Content, reference: string, options?: OperationOptions): Promise<void>;
  exists(desc: Descriptor, options?: OperationOptions): Promise<boolean>;
  /** Deletes a manifest by digest, nothing else (no referrers bookkeeping). */
  deleteManifest(desc: Descriptor, options?: OperationOptions): Promise<void>;
}

/** One answer of the referrers API. */
export type ReferrersPage =
  | { supported: false }
  | { supported: true; entries: Descriptor[]; next: URL | undefined };

/** The URL of the referrers API for `digest`, with `artifactType` when given. */
export function referrersUrl(repo: ReferrersRepository, digest: string, artifactType?: string): URL {
  const url = new URL(`/v2/${repo.repository}/referrers/${digest}`, repo.baseUrl);
  if (artifactType !== undefined && artifactType !== '') url.searchParams.set('artifactType', artifactType);
  return url;
}

function contentTypeOf(response: HttpResponse): string | undefined {
  return headerValue(response.headers, 'content-type')?.split(';')[0]?.trim();
}

/** True when the answer says the registry applied the `artifactType` filter (`OCI-Filters-Applied`). */
function filtersApplied(response: HttpResponse): boolean {
  const raw = response.headers['oci-filters-applied'];
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return values.some((value) => value.split(',').some((item) => item.trim() === 'artifactType'));
}

/**
 * One GET of the referrers API. Only a 200 whose `Content-Type` is the OCI index media type counts as
 * support; on the first page, a 404 (other than `NAME_UNKNOWN`), 400, 405, 406 or 501, or a 200 of
 * another type, means "no API" (`{supported: false}`). Entries are filtered by `artifactType` on the client
 * unless `OCI-Filters-Applied` names it.
 * @throws StowageError `NOT_FOUND` (a 404 `NAME_UNKNOWN`: no such repository), `TOO_LARGE`,
 *   `INVALID_MANIFEST`, `INVALID_MEDIA_TYPE` (a later page that is not an index), `UNAUTHORIZED`, `DENIED`,
 *   `REGISTRY_ERROR`, `NETWORK`, `ABORTED`.
 */
export async function fetchReferrersPage(
  repo: ReferrersRepository,
  url: URL,
  options: { operation: string; first: boolean; artifactType?: string | undefined; signal?: AbortSignal | undefined },
): Promise<ReferrersPage> {
  const { operation } = options;
  const response = await repo.client.send({
    method: 'GET',
    url,
    headers: { accept: MediaType.ociIndex },
    operation,
    scopes: [`repository:${repo.repository}:pull`],
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (response.status === 200) {
    if (contentTypeOf(response) !== MediaType.ociIndex) {
      await discardBody(response);
      if (options.first) return { supported: false };
      throw new StowageError('INVALID_MEDIA_TYPE', `${operation}: the registry answered with ${contentTypeOf(response) ?? 'no Content-Type'}, not an OCI index`);
    }
    const index = parseJson(imageIndexSchema, await readBody(response, maxReferrersBytes, operation), operation);
    const next = nextPageUrl(response, operation);
    const entries = filtersApplied(response) ? index.manifests : filterByArtifactType(index.manifests, options.artifactType);
    return { supported: true, entries, next };
  }
  if (response.status === 404) {
    let codes: string[] = [];
    try {
      const body = await readBody(response, 64 * 1024, operation);
      const parsed = errorBodySchema.safeParse(JSON.parse(new TextDecoder().decode(body)));
      if (parsed.success) codes = parsed.data.errors.map((error) => error.code);
    } catch (error) {
      if (isStowageError(error, 'ABORTED')) throw error;
    }
    if (codes.includes('NAME_UNKNOWN')) throw new StowageError('NOT_FOUND', `${operation}: repository ${repo.repository} not found`);
    if (options.first) return { supported: false };
    throw new StowageError('NOT_FOUND', `${operation}: the next page is gone (HTTP 404)`);
  }
  if (options.first && [400, 405, 406, 501].includes(response.status)) {
    await discardBody(response);
    return { supported: false };
  }
  throw await registryError(response, operation);
}

/**
 * Yields the referrers API's pages, following `Link` on the same origin up to {@link maxReferrersPages}.
 * `first` is the answer to the first page, already fetched (the probe).
 * @throws StowageError as {@link fetchReferrersPage}, and `REGISTRY_ERROR` for a paging loop.
 */
export async function* apiReferrerPages(
  repo: ReferrersRepository,
  first: ReferrersPage & { supported: true },
  options: { operation: string; artifactType?: string | undefined; signal?: AbortSignal | undefined },
): AsyncGenerator<Descriptor[], void, undefined> {
  const seen = new Set<string>();
  let page: ReferrersPage = first;
  for (let count = 1; ; count++) {
    if (!page.supported) return;
    if (page.entries.length > 0) yield page.entries;
    const next = page.next;
    if (next === undefined) return;
    if (count >= maxReferrersPages || seen.has(next.href)) {
      throw new StowageError('REGISTRY_ERROR', `${options.operation}: the registry keeps linking to more pages (stopped after ${count})`);
    }
    seen.add(next.href);
    page = await fetchReferrersPage(repo, next, { ...options, first: false });
  }
}

/** The fallback index of a subject as read from its tag. */
export interface FallbackIndex {
  /** The index's descriptor, when the tag holds a referrers index. */
  descriptor?: Descriptor;
  /** Its referrer descriptors (manifests only, each digest once). */
  entries: Descriptor[];
  /**
   * True when the tag holds something that is not a referrers index (GitLab answers `sha256-<hex>` with the
   * subject itself, oras-go#1396): it is read as empty and never deleted.
   */
  foreign?: boolean;
}

/**
 * Reads the fallback index of `subject` (tag {@link fallbackTag}). A missing tag is an empty index; so is a
 * tag that holds something other than an OCI index of referrers (`foreign`).
 * @throws StowageError `UNAUTHORIZED`, `DENIED`, `TOO_LARGE`, `REGISTRY_ERROR`, `NETWORK`, `ABORTED`.
 */
export async function readFallbackIndex(repo: ReferrersRepository, subject: Descriptor, options: OperationOptions = {}): Promise<FallbackIndex> {
  const tag = fallbackTag(subject.digest);
  const operation = `read referrers index ${repo.display(tag)}`;
  let fetched: { descriptor: Descriptor; content: Readable };
  try {
    fetched = await repo.fetchReference(tag, options);
  } catch (error) {
    if (isStowageError(error, 'NOT_FOUND')) return { entries: [] };
    // A tag served as something that is not a manifest type at all is not our index either.
    if (isStowageError(error, 'INVALID_MEDIA_TYPE', 'INVALID_MANIFEST')) return { entries: [], foreign: true };
    throw error;
  }
  const bytes = await readAll(fetched.content, maxReferrersBytes, operation);
  if (fetched.descriptor.mediaType !== MediaType.ociIndex || fetched.descriptor.digest === subject.digest) return { entries: [], foreign: true };
  let index;
  try {
    index = parseJson(imageIndexSchema, bytes, operation);
  } catch {
    return { entries: [], foreign: true };
  }
  const entries: Descriptor[] = [];
  const seen = new Set<string>();
  for (const entry of index.manifests) {
    if (!isManifestMediaType(entry.mediaType) || seen.has(entry.digest) || entry.digest === subject.digest) continue;
    seen.add(entry.digest);
    entries.push(entry);
  }
  return { descriptor: fetched.descriptor, entries };
}

/** Options of {@link updateFallbackIndex}. */
export interface FallbackUpdateOptions extends OperationOptions {
  /** The shortest wait between a write and its check, in ms; default {@link defaultSettleMs}. */
  settleMs?: number;
  /** Rounds before giving up; default {@link defaultMaxAttempts}. */
  maxAttempts?: number;
  /** Delete the index manifests the update replaced (default true; failures are ignored). */
  deleteOld?: boolean;
}

/** What {@link updateFallbackIndex} did. */
export interface FallbackUpdateResult {
  /** Rounds of read (and perhaps write) it took. */
  attempts: number;
  /** Indexes it wrote. */
  writes: number;
  /** The index the tag points to at the end (undefined when it was never written and does not exist). */
  index?: Descriptor;
  /** Digests of old index manifests it deleted. */
  deleted: string[];
}

/** The JSON of a referrer descriptor in the index, fields in the order ORAS writes them. */
function entryJson(entry: Descriptor): Record<string, unknown> {
  const out: Record<string, unknown> = { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
  if (entry.annotations !== undefined && Object.keys(entry.annotations).length > 0) out.annotations = entry.annotations;
  if (entry.artifactType !== undefined && entry.artifactType !== '') out.artifactType = entry.artifactType;
  return out;
}

/** The bytes of a fallback index holding `entries`, unique thanks to a random annotation. */
function fallbackIndexBytes(entries: readonly Descriptor[]): Uint8Array {
  const document = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: entries.map(entryJson),
    annotations: { [fallbackUpdateAnnotation]: randomBytes(12).toString('hex') },
  };
  return new TextEncoder().encode(JSON.stringify(document));
}

async function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  try {
    await sleep(ms, undefined, signal === undefined ? undefined : { signal });
  } catch (error) {
    throw signal?.aborted === true ? abortError(signal, what) : error;
  }
}

/**
 * Adds `add` to, and/or removes the referrer `remove` from, the fallback index of `subject`, safely against
 * other writers doing the same at the same time (the module comment says how and why). Returns once the
 * index has been seen, a settle delay after the last write, to hold every entry this writer knows of and
 * not `remove`.
 * @throws StowageError `REGISTRY_ERROR` (not confirmed within `maxAttempts` rounds), `TOO_LARGE` (the index
 *   would pass 4 MiB), and what reading, writing and HEAD requests throw (`UNAUTHORIZED`, `DENIED`,
 *   `NETWORK`, `ABORTED`, ...).
 */
export async function updateFallbackIndex(
  repo: ReferrersRepository,
  subject: Descriptor,
  change: { add?: Descriptor; remove?: string },
  options: FallbackUpdateOptions = {},
): Promise<FallbackUpdateResult> {
  const { signal } = options;
  const tag = fallbackTag(subject.digest);
  const operation = `update referrers index ${repo.display(tag)} of ${subject.digest}`;
  const settleMs = options.settleMs ?? defaultSettleMs;
  const maxAttempts = options.maxAttempts ?? defaultMaxAttempts;
  const requestOptions: OperationOptions = signal === undefined ? {} : { signal };

  /** Every entry seen in any version of the index, and ours: what the index must hold. */
  const known = new Map<string, Descriptor>();
  /** Referrers that are gone: the one removed, and entries whose manifest a HEAD did not find. */
  const gone = new Set<string>();
  if (change.add !== undefined) known.set(change.add.digest, change.add);
  if (change.remove !== undefined) gone.add(change.remove);
  /** Referrers indexes this update replaced, to delete at the end. */
  const replaced = new Map<string, Descriptor>();
  let writes = 0;
  let windowMs = 0;
  let putFailures = 0;

  const learn = (index: FallbackIndex): void => {
    for (const entry of index.entries) {
      if (!gone.has(entry.digest) && !known.has(entry.digest)) known.set(entry.digest, entry);
    }
  };
  const satisfied = (index: FallbackIndex): boolean => {
    const present = new Set(index.entries.map((entry) => entry.digest));
    for (const digest of known.keys()) if (!present.has(digest)) return false;
    for (const digest of gone) if (present.has(digest)) return false;
    return true;
  };

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    throwIfAborted(signal, operation);
    const roundStart = Date.now();
    let current = await readFallbackIndex(repo, subject, requestOptions);
    learn(current);
    if (satisfied(current)) {
      const result: FallbackUpdateResult = { attempts: attempt, writes, deleted: [] };
      if (current.descriptor !== undefined) result.index = current.descriptor;
      if (options.deleteOld !== false) result.deleted = await deleteReplaced(repo, replaced, current, requestOptions);
      return result;
    }
    // Entries that vanished from the index: a lost update (write them back) or a deleted referrer (drop them).
    const present = new Set(current.entries.map((entry) => entry.digest));
    let checked = false;
    // Asked again every round: a referrer found once may be deleted since (its deleter removes it from the
    // index after deleting the manifest, so a HEAD after that answers 404 and both writers agree).
    for (const entry of [...known.values()]) {
      if (present.has(entry.digest) || entry.digest === change.add?.digest) continue;
      checked = true;
      if (!(await repo.exists(entry, requestOptions))) {
        gone.add(entry.digest);
        known.delete(entry.digest);
      }
    }
    // Rule 3: the HEADs took time; read again so that the window between the read and the PUT is short.
    const readAt = checked ? Date.now() : roundStart;
    if (checked) {
      current = await readFallbackIndex(repo, subject, requestOptions);
      learn(current);
    }
    if (!satisfied(current)) {
      const entries = current.entries.filter((entry) => !gone.has(entry.digest));
      const listed = new Set(entries.map((entry) => entry.digest));
      for (const entry of known.values()) if (!listed.has(entry.digest)) entries.push(entry);
      const bytes = fallbackIndexBytes(entries);
      if (bytes.byteLength > maxReferrersBytes) {
        throw new StowageError('TOO_LARGE', `${operation}: the index of ${entries.length} referrers would be over the ${maxReferrersBytes}-byte limit`);
      }
      const desc: Descriptor = { mediaType: MediaType.ociIndex, digest: digestOf(bytes), size: bytes.byteLength };
      try {
        await repo.pushReference(desc, bytes, tag, requestOptions);
      } catch (error) {
        // docker-registry refuses an index that lists a manifest it does not have (400 MANIFEST_BLOB_UNKNOWN):
        // a referrer deleted meanwhile, or a dangling entry another tool left. Drop what is gone and go again.
        if (!isStowageError(error, 'REGISTRY_ERROR', 'NOT_FOUND', 'NETWORK')) throw error;
        let dropped = false;
        for (const entry of error.code === 'NETWORK' ? [] : entries) {
          if (entry.digest === change.add?.digest || (await repo.exists(entry, requestOptions))) continue;
          gone.add(entry.digest);
          known.delete(entry.digest);
          dropped = true;
        }
        if (dropped) continue;
        // A failure worth another round (a 5xx, a reset): the next round reads afresh. A few, not forever.
        putFailures++;
        if (putFailures > maxPutFailures || error.code === 'NOT_FOUND') throw error;
        await pause(settleMs, signal, operation);
        continue;
      }
      windowMs = Math.max(windowMs, Date.now() - readAt);
      writes++;
      if (current.descriptor !== undefined && !current.foreign) replaced.set(current.descriptor.digest, current.descriptor);
    }
    // Rule 2: wait longer than any writer's read-to-write window, jittered so racing writers drift apart.
    const settle = Math.max(settleMs, 4 * windowMs);
    await pause(settle + Math.floor(Math.random() * settle), signal, operation);
  }
  throw new StowageError(
    'REGISTRY_ERROR',
    `${operation}: the index kept changing under other writers; not confirmed after ${maxAttempts} rounds (the referrer manifest itself is stored: run the command again)`,
  );
}

/** Deletes the replaced indexes the tag does not point to (best effort: failures are ignored). */
async function deleteReplaced(repo: ReferrersRepository, replaced: Map<string, Descriptor>, current: FallbackIndex, options: OperationOptions): Promise<string[]> {
  const deleted: string[] = [];
  for (const [digest, desc] of replaced) {
    if (digest === current.descriptor?.digest) continue;
    try {
      await repo.deleteManifest(desc, options);
      deleted.push(digest);
    } catch (error) {
      // Deletion disabled (405), not allowed, or already deleted by another writer: the index stays behind.
      if (isStowageError(error, 'ABORTED')) throw error;
    }
  }
  return deleted;
}

/**
 * The referrers in the fallback index of `subject`, filtered by `artifactType`, as one page.
 * @throws StowageError as {@link readFallbackIndex}.
 */
export async function* fallbackReferrerPages(repo: ReferrersRepository, subject: Descriptor, options: ReferrersOptions = {}): AsyncGenerator<Descriptor[], void, undefined> {
  const index = await readFallbackIndex(repo, subject, options.signal === undefined ? {} : { signal: options.signal });
  const entries = filterByArtifactType(index.entries, options.artifactType);
  if (entries.length > 0) yield entries;
}
