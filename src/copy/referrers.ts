/**
 * Copying a graph together with its referrers (`copy -r`): the manifests whose `subject` is the root, or a
 * manifest of the root's index, and, in turn, their referrers, to any depth. The referrers are found in the
 * source with its own `referrers()` (the registry's API or its fallback tag index, an OCI layout's graph)
 * and pushed like any manifest: a registry destination then indexes each one itself (the fallback index
 * under `<alg>-<hex>` is rewritten there for the destination's digests; nothing of the source's index is
 * copied), an OCI layout lists it in index.json.
 */
import { StowageError, throwIfAborted } from '../errors.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { parseManifest, type Descriptor } from '../oci/schemas.js';
import { fetchBytes, isReferrerLister, type ReadOnlyTarget, type ReferrerLister, type Storage, type Target } from '../content/store.js';
import { copy, copyGraph, type CopyGraphOptions, type CopyOptions } from './copy.js';

/** Options of {@link copyReferrers}. */
export interface CopyReferrersOptions extends Omit<CopyGraphOptions, 'rootTag'> {
  /** A referrer was found in the source under `subject`; its graph is copied next. */
  onReferrer?: (referrer: Descriptor, subject: Descriptor) => void;
}

/** Options of {@link copyWithReferrers}. */
export type CopyWithReferrersOptions = CopyOptions & Pick<CopyReferrersOptions, 'onReferrer'>;

/** What {@link copyWithReferrers} copied. */
export interface CopyWithReferrersResult {
  /** The root the source reference resolved to. */
  root: Descriptor;
  /** Every referrer copied (or found already there), as the source listed it, in the order found. */
  referrers: Descriptor[];
}

/** How deep nested indexes are followed to find the manifests whose referrers count as the root's. */
const maxIndexDepth = 8;

/** The bare descriptor of a manifest (a listing adds `artifactType` and annotations). */
function bare(desc: Descriptor): Descriptor {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
}

/**
 * The manifests whose referrers are copied with `root`: the root, and when it is an index, the manifests
 * it lists (nested indexes followed), each digest once.
 */
async function subjectsOf(src: ReadOnlyTarget, root: Descriptor, signal: AbortSignal | undefined): Promise<Descriptor[]> {
  const found = new Map<string, Descriptor>([[root.digest, root]]);
  const walk = async (node: Descriptor, depth: number): Promise<void> => {
    if (!isIndexMediaType(node.mediaType) || depth > maxIndexDepth) return;
    const parsed = parseManifest(await fetchBytes(src, node, signal === undefined ? {} : { signal }), node.mediaType, node.digest);
    if (parsed.kind !== 'index') return;
    for (const child of parsed.index.manifests) {
      if (!isManifestMediaType(child.mediaType) || found.has(child.digest)) continue;
      found.set(child.digest, bare(child));
      await walk(child, depth + 1);
    }
  };
  await walk(root, 0);
  return [...found.values()];
}

/** The referrers of `subject` in `store`, all pages, manifests only. */
async function listReferrers(store: ReferrerLister, subject: Descriptor, signal: AbortSignal | undefined): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for await (const page of store.referrers(subject, signal === undefined ? {} : { signal })) {
    for (const referrer of page) if (isManifestMediaType(referrer.mediaType)) out.push(referrer);
  }
  return out;
}

/**
 * Copies the referrers of `root` (and, when `root` is an index, of the manifests it lists) from `src` to
 * `dst`, then their referrers, and so on, each with its whole graph; `root` itself is not copied (do that
 * first: a registry may refuse a referrer whose subject is missing). A referrer the destination already has
 * but does not list under its subject (an earlier copy stopped between the manifest and the index update)
 * is pushed again so that it gets listed. A referrer is copied once however often it is found; a cycle
 * cannot loop. Returns the referrers as the source listed them, in the order found.
 * @throws StowageError `UNSUPPORTED` (the source cannot list referrers), what the source's `referrers`
 *   throws (`UNSUPPORTED` for a registry without the API in `api` mode), and what {@link copyGraph} throws.
 */
export async function copyReferrers(src: ReadOnlyTarget, dst: Storage, root: Descriptor, options: CopyReferrersOptions = {}): Promise<Descriptor[]> {
  const { signal } = options;
  if (!isReferrerLister(src)) throw new StowageError('UNSUPPORTED', `copy referrers of ${root.digest}: the source cannot list referrers`);
  const requestOptions = signal === undefined ? {} : { signal };
  const { onReferrer, ...graphOptions } = options;
  const copied: Descriptor[] = [];
  const seen = new Set<string>();
  /** Nodes the destination already had. */
  const skipped = new Set<string>();
  const queue = await subjectsOf(src, root, signal);
  for (const subject of queue) seen.add(subject.digest);
  // Breadth first: every referrer of a subject, then the referrers of those.
  for (let next = 0; next < queue.length; next++) {
    const subject = queue[next];
    if (subject === undefined) break;
    throwIfAborted(signal, `copy referrers of ${subject.digest}`);
    let listedAtDestination: Set<string> | undefined;
    for (const referrer of await listReferrers(src, subject, signal)) {
      if (seen.has(referrer.digest)) continue;
      seen.add(referrer.digest);
      onReferrer?.(referrer, subject);
      const node = bare(referrer);
      await copyGraph(src, dst, node, {
        ...graphOptions,
        onSkipped: (desc) => {
          skipped.add(desc.digest);
          graphOptions.onSkipped?.(desc);
        },
      });
      if (skipped.has(node.digest) && isReferrerLister(dst)) {
        listedAtDestination ??= new Set((await listReferrers(dst, subject, signal)).map((desc) => desc.digest));
        // Pushing the manifest again indexes it (a registry updates its fallback index on every push of a referrer).
        if (!listedAtDestination.has(node.digest)) await dst.push(node, await fetchBytes(src, node, requestOptions), requestOptions);
      }
      copied.push(referrer);
      queue.push(node);
    }
  }
  return copied;
}

/**
 * Copies what `srcRef` names, as {@link copy} does (tags included), and then its referrers, as
 * {@link copyReferrers} does.
 * @throws StowageError as {@link copy} and {@link copyReferrers}.
 */
export async function copyWithReferrers(
  src: ReadOnlyTarget,
  srcRef: string,
  dst: Target,
  dstRef: string | undefined,
  options: CopyWithReferrersOptions = {},
): Promise<CopyWithReferrersResult> {
  const root = await copy(src, srcRef, dst, dstRef, options);
  const { rootTag: _rootTag, extraTags: _extraTags, ...rest } = options;
  const referrers = await copyReferrers(src, dst, root, rest);
  return { root, referrers };
}
