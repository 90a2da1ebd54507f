/**
 * Turns a reference argument and the remote/layout flags into a store: a RemoteRepository for
 * `[registry/]repo[:tag][@digest]`, or an OciLayoutStore for `--oci-layout <path>[:tag][@digest]`.
 */
import { readFile } from 'node:fs/promises';
import {
  apiHost,
  formatReference,
  HttpClient,
  OciLayoutStore,
  parseLayoutReference,
  parseReferenceWithTags,
  RemoteRepository,
  StowageError,
  type Target,
} from '../src/index.js';

export interface RemoteFlagValues {
  username?: string | undefined;
  password?: string | undefined;
  'password-stdin'?: boolean | undefined;
  'plain-http'?: boolean | undefined;
  header?: string[] | undefined;
  'oci-layout'?: boolean | undefined;
}

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
}

/** Parses `-H 'name: value'` flags. */
export function parseHeaders(values: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values ?? []) {
    const colon = value.indexOf(':');
    const name = colon === -1 ? '' : value.slice(0, colon).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new StowageError('INVALID_ARGUMENT', `invalid header "${value}": expected "name: value"`);
    }
    headers[name] = value.slice(colon + 1).trim();
  }
  return headers;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * The HTTP client for one registry, from the remote flags: credentials (flags, then stored ones), headers,
 * transport. Every command that talks to a registry gets its client here.
 * @throws StowageError `INVALID_ARGUMENT`.
 */
export async function createClient(registry: string, flags: RemoteFlagValues): Promise<HttpClient> {
  let password = flags.password;
  if (flags['password-stdin'] === true) password = await readStdin();
  const username = flags.username;
  if ((username === undefined) !== (password === undefined)) {
    throw new StowageError('INVALID_ARGUMENT', 'give both a username and a password, or neither');
  }
  const host = apiHost(registry);
  return new HttpClient({
    headers: parseHeaders(flags.header),
    ...(username !== undefined && password !== undefined
      ? { credentials: (requestHost: string) => (requestHost === host ? { username, password } : undefined) }
      : {}),
  });
}

/**
 * Opens the store a reference argument names.
 * @throws StowageError `INVALID_REFERENCE`, `INVALID_ARGUMENT`, `INVALID_LAYOUT`, `NOT_FOUND`.
 */
export async function openTarget(input: string, flags: RemoteFlagValues, options: OpenTargetOptions = {}): Promise<OpenedTarget> {
  const multipleTags = options.multipleTags === true;
  if (flags['oci-layout'] === true) {
    const ref = parseLayoutReference(input, { multipleTags });
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
  const client = await createClient(reference.registry, flags);
  const target = new RemoteRepository({
    registry: reference.registry,
    repository: reference.repository,
    client,
    ...(flags['plain-http'] === undefined ? {} : { plainHttp: flags['plain-http'] }),
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

/** Reads a file the user named, with a clear error. */
export async function readUserFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new StowageError('FILE_NOT_FOUND', `${what} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error)}`, { cause: error });
  }
}
