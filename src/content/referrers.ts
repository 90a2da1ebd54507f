/**
 * Referrers answered from a store's own graph (OCI layout, memory), and the referrer tree `discover` shows:
 * referrers, their referrers, and so on to a depth.
 */
import { StowageError, throwIfAborted } from '../errors.js';
import { isManifestMediaType } from '../oci/media-types.js';
import { filterByArtifactType, referrerDescriptor, referrerInfo } from '../oci/referrers.js';
import type { Descriptor } from '../oci/schemas.js';
import { fetchBytes, isReferrerLister, type Fetcher, type OperationOptions } from './store.js';

/**
 * The referrers of `subject` among `candidates` (manifests of the store that point to it in some way): those
 * whose `subject` is `subject`, as referrer descriptors (artifact type and annotations copied in), filtered
 * by `artifactType`, sorted by digest so listings are stable.
 * @throws StowageError what {@link fetchBytes} throws (a candidate that is not a manifest is skipped).
 */
export async function referrersAmong(
  store: Fetcher,
  subject: Descriptor,
  candidates: readonly Descriptor[],
  options: OperationOptions & { artifactType?: string | undefined } = {},
): Promise<Descriptor[]> {
  const fetchOptions = options.signal === undefined ? {} : { signal: options.signal };
  const found = new Map<string, Descriptor>();
  for (const candidate of candidates) {
    if (!isManifestMediaType(candidate.mediaType) || found.has(candidate.digest)) continue;
    const bytes = await fetchBytes(store, candidate, fetchOptions);
    let info;
    try {
      info = referrerInfo(bytes, candidate.digest);
    } catch {
      continue;
    }
    if (info.subject?.digest !== subject.digest) continue;
    found.set(candidate.digest, referrerDescriptor(candidate, bytes));
  }
  const sorted = [...found.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return filterByArtifactType(sorted, options.artifactType);
}

/** One referrer and, below it, its own referrers. */
export interface ReferrerNode {
  /** The referrer's descriptor, with `artifactType` and `annotations`. */
  descriptor: Descriptor;
  referrers: ReferrerNode[];
}

/** Options of {@link referrerTree}. */
export interface ReferrerTreeOptions extends OperationOptions {
  /** Levels to list: 1 = direct referrers only. Default: all (up to {@link maxReferrerDepth}). */
  depth?: number;
  /** Only referrers of this artifact type, at every level. */
  artifactType?: string;
}

/** The deepest level a referrer tree goes to, whatever `depth` says (a chain longer than this is unusual). */
export const maxReferrerDepth = 64;

/**
 * The referrers of `subject` in `store`, each with its own referrers, to `depth` levels. A manifest is
 * listed once on any path (a cycle cannot loop).
 * @throws StowageError `UNSUPPORTED` (the store cannot list referrers), `INVALID_ARGUMENT` (a depth below 1),
 *   and what the store's `referrers` throws.
 */
export async function referrerTree(store: unknown, subject: Descriptor, options: ReferrerTreeOptions = {}): Promise<ReferrerNode[]> {
  if (!isReferrerLister(store)) throw new StowageError('UNSUPPORTED', `list referrers of ${subject.digest}: this store cannot list referrers`);
  const depth = Math.min(options.depth ?? maxReferrerDepth, maxReferrerDepth);
  if (!Number.isInteger(depth) || depth < 1) throw new StowageError('INVALID_ARGUMENT', `referrer depth ${String(options.depth)}: expected a whole number of at least 1`);
  const onPath = new Set<string>([subject.digest]);
  const level = async (node: Descriptor, remaining: number): Promise<ReferrerNode[]> => {
    throwIfAborted(options.signal, `list referrers of ${node.digest}`);
    const out: ReferrerNode[] = [];
    const listOptions = {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.artifactType === undefined ? {} : { artifactType: options.artifactType }),
    };
    for await (const page of store.referrers(node, listOptions)) {
      for (const referrer of page) {
        if (onPath.has(referrer.digest)) continue;
        out.push({ descriptor: referrer, referrers: [] });
      }
    }
    if (remaining > 1) {
      for (const child of out) {
        onPath.add(child.descriptor.digest);
        child.referrers = await level(child.descriptor, remaining - 1);
        onPath.delete(child.descriptor.digest);
      }
    }
    return out;
  };
  return level(subject, depth);
}
