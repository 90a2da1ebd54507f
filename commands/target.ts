/**
 * Turns a reference argument and the remote/layout flags into a store: a RemoteRepository for
 * `[registry/]repo[:tag][@digest]`, or an OciLayoutStore for `--oci-layout <path>[:tag][@digest]`.
 */
import {
  formatReference,
  isValidDigest,
  isValidTag,
  OciLayoutStore,
  parseLayoutReference,
  parseReferenceWithTags,
  RemoteRepository,
  StowageError,
  type HttpClient,
  type LayoutReference,
  type RepositoryAction,
  type Target,
} from '../src/index.js';
import { createClient, remotePlainHttp, type RemoteFlagValues } from './client.js';

export interface OpenedTarget {
  target: Target;
  /** The tag or digest the argument named (the digest when both). */
  selector: string | undefined;
  /** Every tag the argument named (`repo:v1,v2`). */
  tags: string[];
  /** How to show the target to the user: `localhost:5000/app` or the layout path. */
  name: string;
  kind: 'registry' | 'oci-layout';
  /** Formats `name` with a tag or digest, the way the user would type it. */
  display: (selector?: string) => string;
}

export interface OpenTargetOptions {
  /** Create the OCI layout when missing (push, tag, copy destinations). */
  create?: boolean;
  multipleTags?: boolean;
  signal?: AbortSignal;
  /** Token actions the whole operation needs, asked for up front (default pull): push and tag need pull and push. */
  actions?: readonly RepositoryAction[];
  /** The HTTP client to use for a registry (copy shares one between source and destination); default: a new one from the flags. */
  client?: HttpClient;
  /** The OCI layout directory (`--oci-layout-path`): the input is then only `<tag>[,<tag>...]`, `@<digest>` or empty. */
  layoutPath?: string;
}

/**
 * Parses the reference argument that goes with `--oci-layout-path`: tags, a digest (with or without `@`), or nothing.
 * @throws StowageError `INVALID_REFERENCE`.
 */
function layoutReferenceAt(path: string, input: string, multipleTags: boolean): LayoutReference {
  if (input === '') return { path, tags: [] };
  const digest = input.startsWith('@') ? input.slice(1) : input;
  if (isValidDigest(digest)) return { path, tags: [], digest };
  const tags = [...new Set(input.split(','))];
  if (tags.length > 1 && !multipleTags) throw new StowageError('INVALID_REFERENCE', `invalid reference "${input}": several tags are not allowed here`);
  for (const tag of tags) {
    if (!isValidTag(tag)) throw new StowageError('INVALID_REFERENCE', `invalid reference "${input}": "${tag}" is not a valid tag or digest`);
  }
  return { path, tags, ...(tags[0] === undefined ? {} : { tag: tags[0] }) };
}

/**
 * Opens the store a reference argument names.
 * @throws StowageError `INVALID_REFERENCE`, `INVALID_ARGUMENT`, `INVALID_LAYOUT`, `NOT_FOUND`, `FILE_NOT_FOUND`.
 */
export async function openTarget(input: string, flags: RemoteFlagValues, options: OpenTargetOptions = {}): Promise<OpenedTarget> {
  const multipleTags = options.multipleTags === true;
  const layoutPath = options.layoutPath ?? flags['oci-layout-path'];
  if (flags['oci-layout'] === true && flags['oci-layout-path'] !== undefined) {
    throw new StowageError('INVALID_ARGUMENT', '--oci-layout and --oci-layout-path cannot be used together: give the path once');
  }
  if (flags['oci-layout'] === true || layoutPath !== undefined) {
    const ref = layoutPath === undefined ? parseLayoutReference(input, { multipleTags }) : layoutReferenceAt(layoutPath, input, multipleTags);
    const target = await OciLayoutStore.open(ref.path, { create: options.create === true, ...(options.signal ? { signal: options.signal } : {}) });
    return {
      target,
      selector: ref.digest ?? ref.tag,
      tags: ref.tags,
      name: ref.path,
      kind: 'oci-layout',
      display: (selector) => (selector === undefined ? ref.path : `${ref.path}${selector.includes(':') ? '@' : ':'}${selector}`),
    };
  }
  const { reference, tags } = parseReferenceWithTags(input, { multipleTags });
  const client = options.client ?? (await createClient(reference.registry, flags));
  const plainHttp = remotePlainHttp(flags);
  const target = new RemoteRepository({
    registry: reference.registry,
    repository: reference.repository,
    client,
    actions: options.actions ?? ['pull'],
    ...(plainHttp === undefined ? {} : { plainHttp }),
  });
  const name = `${reference.registry}/${reference.repository}`;
  return {
    target,
    selector: reference.digest ?? reference.tag,
    tags,
    name,
    kind: 'registry',
    display: (selector) =>
      selector === undefined
        ? name
        : formatReference({ registry: reference.registry, repository: reference.repository, ...(selector.includes(':') ? { digest: selector } : { tag: selector }) }),
  };
}
