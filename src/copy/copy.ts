/**
 * One copy over the store interfaces: registry -> registry, files -> registry (push), registry -> files
 * (pull), layout <-> registry are the same walk. Children are copied before the manifests that point to
 * them, so a registry never sees a manifest whose blobs are missing.
 */
import { setMaxListeners } from 'node:events';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { abortError, throwIfAborted } from '../errors.js';
import { isValidDigest, verifyBytes } from '../oci/digest.js';
import { Annotation, isManifestMediaType } from '../oci/media-types.js';
import { parseManifest, successors as manifestSuccessors, type Descriptor, type ParsedManifest } from '../oci/schemas.js';
import {
  fetchBytes,
  isMounter,
  isPreparer,
  isRangeFetcher,
  isReferenceFetcher,
  isReferencePusher,
  isResumablePusher,
  isTappable,
  maxManifestBytes,
  readAll,
  type OperationOptions,
  type ReadOnlyTarget,
  type Storage,
  type Target,
} from '../content/store.js';
import { Limiter } from './limiter.js';

/** Progress callbacks; the library never prints, the CLI turns these into output. */
export interface CopyHooks {
  /** A node's transfer begins. */
  onStart?: (desc: Descriptor) => void;
  /** Bytes of `desc` transferred so far (cumulative; from the resume offset on when resumed). */
  onProgress?: (desc: Descriptor, transferred: number) => void;
  /**
   * The transfer of `desc` continues at byte `offset`: the destination kept that many bytes of an earlier
   * interrupted transfer, and the source sends the rest.
   */
  onResumed?: (desc: Descriptor, offset: number) => void;
  /** The destination already has `desc` (and so everything below it). */
  onSkipped?: (desc: Descriptor) => void;
  /** `desc` was mounted from another repository instead of uploaded. */
  onMounted?: (desc: Descriptor, fromRepository: string) => void;
  /** `desc` is in the destination. */
  onDone?: (desc: Descriptor) => void;
}

export interface CopyGraphOptions extends CopyHooks, OperationOptions {
  /** Blobs transferred at once; default 3 (ORAS's default for copy and pull). */
  concurrency?: number;
  /**
   * Which children of a manifest to descend into; default: config and layers, or an index's manifests.
   * Pull uses it to skip blobs that have no file name.
   */
  successors?: (node: Descriptor, parsed: ParsedManifest) => Descriptor[];
  /** Repositories of the destination's registry that may hold a blob, tried with a mount before uploading. */
  mountCandidates?: (desc: Descriptor) => string[];
  /** When set, the root manifest is pushed directly under this tag if the destination can do that. */
  rootTag?: string;
  /** The bytes of the root manifest when the caller has them already: verified against `root`, not fetched again. */
  rootContent?: Uint8Array;
}

/** What {@link copyGraph} did that its caller needs to know. */
export interface CopyGraphResult {
  /** The tag the root manifest was pushed under (a registry PUT by tag), when it was. */
  rootPushedAs: string | undefined;
}

export interface CopyOptions extends CopyGraphOptions {
  /** Extra tags to give the root in the destination, beyond `dstRef`. */
  extraTags?: string[];
}

/** A stream that reports how many bytes have passed, counting from `start`. */
function counting(desc: Descriptor, onProgress: (desc: Descriptor, transferred: number) => void, start: number): Transform {
  let transferred = start;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      transferred += chunk.byteLength;
      onProgress(desc, transferred);
      callback(null, chunk);
    },
  });
}

/**
 * Copies the graph under `root` from `src` to `dst`: skips what the destination has, transfers blobs in
 * parallel, and pushes each manifest after its children. Fails fast: the first error cancels the rest and
 * is thrown once every transfer in flight has stopped.
 * @throws StowageError from either store (`NOT_FOUND`, `DIGEST_MISMATCH`, `SIZE_MISMATCH`, `TOO_LARGE`,
 *   `INVALID_MANIFEST`, `ABORTED`, ...).
 */
export async function copyGraph(src: ReadOnlyTarget, dst: Storage, root: Descriptor, options: CopyGraphOptions = {}): Promise<CopyGraphResult> {
  const outer = options.signal;
  throwIfAborted(outer, `copy ${root.digest}`);
  const rootContent = options.rootContent;
  if (rootContent !== undefined) verifyBytes(rootContent, root, `copy ${root.digest}`);
  const controller = new AbortController();
  const onOuterAbort = (): void => {
    controller.abort(outer?.reason);
  };
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = controller.signal;
  // Every request in flight listens on this one signal; many at once are expected, not a leak.
  setMaxListeners(0, signal);
  const limiter = new Limiter(options.concurrency ?? 3);
  // Keyed by digest and file name: two files with the same bytes are still two files to write.
  const visited = new Map<string, Promise<void>>();
  const result: CopyGraphResult = { rootPushedAs: undefined };
  let firstFailure: { error: unknown } | undefined;

  // Between two repositories of one registry, blobs are mounted, not copied (when the caller names no candidates).
  const sameRegistry = isMounter(dst) ? dst.mountableFrom?.(src) : undefined;
  const mountCandidates = options.mountCandidates ?? (sameRegistry === undefined ? undefined : () => [sameRegistry]);

  const transferBlob = async (desc: Descriptor): Promise<void> => {
    const observed = (fetched: Readable, start: number): Readable => {
      let stream = fetched;
      const onProgress = options.onProgress;
      if (onProgress !== undefined && isTappable(fetched)) {
        // Counted as the chunks arrive: the destination reads the source itself, as fast as it can.
        let transferred = start;
        fetched.tap((bytes) => {
          transferred += bytes;
          onProgress(desc, transferred);
        });
      } else if (onProgress !== undefined) {
        // pipeline, not pipe: a source that fails mid-stream (DIGEST_MISMATCH, network, abort) must fail the counter too.
        const counter = counting(desc, onProgress, start);
        pipeline(stream, counter, () => undefined);
        stream = counter;
      }
      // Until dst starts reading, nothing listens for the stream's errors: an abort (another transfer failed)
      // or a verification failure would be an unhandled 'error' event. dst still sees the error.
      stream.on('error', () => undefined);
      return stream;
    };
    const candidates = isMounter(dst) ? (mountCandidates?.(desc) ?? []) : [];
    for (const [index, from] of candidates.entries()) {
      // The last try uploads into the session a registry opens when it cannot mount: one POST, not two.
      const last = index === candidates.length - 1;
      const content = async (): Promise<Readable> => {
        options.onStart?.(desc);
        return observed(await src.fetch(desc, { signal }), 0);
      };
      if (isMounter(dst) && (await dst.mount(desc, from, { signal, ...(last ? { content } : {}) }))) {
        options.onMounted?.(desc, from);
        return;
      }
      if (last) {
        options.onDone?.(desc);
        return;
      }
    }
    options.onStart?.(desc);
    if (isResumablePusher(dst) && isRangeFetcher(src)) {
      // The destination may hold the start of the blob from an interrupted transfer: it asks for the rest.
      await dst.pushResumable(desc, async (offset) => {
        const answer = await src.fetchRange(desc, offset, { signal });
        if (answer.offset > 0) options.onResumed?.(desc, answer.offset);
        return { offset: answer.offset, content: observed(answer.content, answer.offset) };
      }, { signal });
    } else {
      await dst.push(desc, observed(await src.fetch(desc, { signal }), 0), { signal });
    }
    options.onDone?.(desc);
  };

  const copyManifest = async (desc: Descriptor): Promise<void> => {
    const bytes = desc === root && rootContent !== undefined ? rootContent : await limiter.run(() => fetchBytes(src, desc, { signal }));
    const parsed = parseManifest(bytes, desc.mediaType, desc.digest);
    const children = options.successors ? options.successors(desc, parsed) : manifestSuccessors(parsed);
    if (isPreparer(dst)) dst.prepareFor(children);
    await settleAll(children.map((child) => visit(child)));
    await limiter.run(async () => {
      options.onStart?.(desc);
      if (desc === root && options.rootTag !== undefined && isReferencePusher(dst)) {
        await dst.pushReference(desc, bytes, options.rootTag, { signal });
        result.rootPushedAs = options.rootTag;
      } else {
        await dst.push(desc, bytes, { signal });
      }
      options.onProgress?.(desc, bytes.byteLength);
      options.onDone?.(desc);
    });
  };

  const visit = (desc: Descriptor): Promise<void> => {
    const key = `${desc.digest} ${desc.mediaType} ${desc.annotations?.[Annotation.title] ?? ''}`;
    const seen = visited.get(key);
    if (seen) return seen;
    const task = (async () => {
      throwIfAborted(signal, `copy ${desc.digest}`);
      const isManifest = isManifestMediaType(desc.mediaType);
      const exists = await (isManifest ? dst.exists(desc, { signal }) : limiter.run(() => dst.exists(desc, { signal })));
      if (exists) {
        options.onSkipped?.(desc);
        return;
      }
      if (isManifest) await copyManifest(desc);
      else await limiter.run(() => transferBlob(desc));
    })();
    // The first failure cancels every other transfer, and is the one reported.
    task.catch((error: unknown) => {
      if (!controller.signal.aborted) {
        firstFailure = { error };
        controller.abort(error);
      }
    });
    visited.set(key, task);
    return task;
  };

  try {
    await visit(root);
    return result;
  } catch (error) {
    // Report the root cause, not the cancellations it triggered elsewhere.
    if (firstFailure) throw firstFailure.error;
    throw outer?.aborted === true ? abortError(outer, `copy ${root.digest}`) : error;
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
}

/** Waits for every promise to settle, then throws the first rejection, if any. */
async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const result of results) {
    if (result.status === 'rejected') throw result.reason;
  }
}

/**
 * Copies what `srcRef` (a tag or digest) names in `src` to `dst`, and tags it there as `dstRef` and
 * `extraTags`. Returns the root descriptor.
 * @throws StowageError as {@link copyGraph} does, and `NOT_FOUND` when `srcRef` does not resolve.
 */
export async function copy(src: ReadOnlyTarget, srcRef: string, dst: Target, dstRef: string | undefined, options: CopyOptions = {}): Promise<Descriptor> {
  const signal = options.signal;
  const signalOption = signal === undefined ? {} : { signal };
  let root: Descriptor;
  const graphOptions: CopyGraphOptions = { ...options };
  if (isReferenceFetcher(src)) {
    // One GET for the root manifest, not a HEAD to resolve it and a GET to read it: a round trip less.
    const fetched = await src.fetchReference(srcRef, signalOption);
    root = fetched.descriptor;
    graphOptions.rootContent = await readAll(fetched.content, maxManifestBytes, srcRef);
  } else {
    root = await src.resolve(srcRef, signalOption);
  }
  // A digest as destination reference means "no tag".
  const tags = [...(dstRef !== undefined && !isValidDigest(dstRef) ? [dstRef] : []), ...(options.extraTags ?? [])];
  const unique = [...new Set(tags)];
  if (unique[0] !== undefined) graphOptions.rootTag = unique[0];
  const { rootPushedAs } = await copyGraph(src, dst, root, graphOptions);
  await tagAll(dst, root, unique, { signal, pushedUnder: rootPushedAs });
  return root;
}

/**
 * Tags `desc` in `target` under every tag, skipping `pushedUnder` (already done by a push by reference).
 */
export async function tagAll(
  target: Target,
  desc: Descriptor,
  tags: string[],
  options: { signal?: AbortSignal | undefined; pushedUnder?: string | undefined } = {},
): Promise<void> {
  for (const tag of tags) {
    if (tag === options.pushedUnder) continue;
    await target.tag(desc, tag, options.signal === undefined ? {} : { signal: options.signal });
  }
}
