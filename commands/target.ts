/**
 * Turns a reference argument and the remote/layout flags into a store: a RemoteRepository for
 * `[registry/]repo[:tag][@digest]`, or an OciLayoutStore for `--oci-layout <path>[:tag][@digest]`.
 */
import { readFile } from 'node:fs/promises';
import {
  apiHost,
  createDispatcher,
  CredentialStore,
  formatReference,
  HttpClient,
  OciLayoutStore,
  parseLayoutReference,
  parseReferenceWithTags,
  RemoteRepository,
  StowageError,
  type Credentials,
  type RepositoryAction,
  type Target,
  type TransportOptions,
} from '../src/index.js';
import { debugExchangeLog } from './ui/debug-log.js';

export interface RemoteFlagValues {
  username?: string | undefined;
  password?: string | undefined;
  'password-stdin'?: boolean | undefined;
  'plain-http'?: boolean | undefined;
  header?: string[] | undefined;
  'oci-layout'?: boolean | undefined;
  /** config.json to read stored credentials from (default `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`). */
  'registry-config'?: string | undefined;
  /** An identity token (login --identity-token): used instead of a password. */
  'identity-token'?: string | undefined;
  'identity-token-stdin'?: boolean | undefined;
  insecure?: boolean | undefined;
  'ca-file'?: string | undefined;
  'cert-file'?: string | undefined;
  'key-file'?: string | undefined;
  resolve?: string[] | undefined;
  /** The base flag: print every HTTP exchange (redacted) to stderr. */
  debug?: boolean | undefined;
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
  /** Token actions the whole operation needs, asked for up front (default pull): push and tag need pull and push. */
  actions?: readonly RepositoryAction[];
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

/** The transport flags as {@link createDispatcher} options; proxies come from the environment. */
export function transportOptions(flags: RemoteFlagValues): TransportOptions {
  const options: TransportOptions = {};
  if (flags.insecure === true) options.insecure = true;
  if (flags['ca-file'] !== undefined) options.caFile = flags['ca-file'];
  if (flags['cert-file'] !== undefined) options.certFile = flags['cert-file'];
  if (flags['key-file'] !== undefined) options.keyFile = flags['key-file'];
  if (flags.resolve !== undefined) options.resolve = flags.resolve;
  return options;
}

/**
 * The `plainHttp` option from the flags: `--plain-http` / `--no-plain-http` when given; else HTTPS when a
 * flag only makes sense over TLS (`--ca-file`, `--cert-file`, `--key-file`), even for a loopback registry;
 * else undefined (the library's default: plain HTTP for loopback registries only).
 */
export function remotePlainHttp(flags: RemoteFlagValues): boolean | undefined {
  if (flags['plain-http'] !== undefined) return flags['plain-http'];
  return flags['ca-file'] !== undefined || flags['cert-file'] !== undefined || flags['key-file'] !== undefined ? false : undefined;
}

/**
 * The HTTP client for one registry, from the remote flags: credentials (flags, else the ones stored for the
 * registry: config.json, credential helpers, the OS keychain), headers, transport. Credentials are given
 * for the registry's API host only. Every command that talks to a registry gets its client here.
 * @throws StowageError `INVALID_ARGUMENT`, `FILE_NOT_FOUND` (a --ca-file, --cert-file or --key-file that is missing).
 */
export async function createClient(registry: string, flags: RemoteFlagValues): Promise<HttpClient> {
  let password = flags.password;
  if (flags['password-stdin'] === true) password = await readStdin();
  const username = flags.username;
  if (flags['identity-token'] === undefined && flags['identity-token-stdin'] !== true && (username === undefined) !== (password === undefined)) {
    throw new StowageError('INVALID_ARGUMENT', 'give both a username and a password, or neither');
  }
  const host = apiHost(registry);
  const identityToken = flags['identity-token-stdin'] === true ? await readStdin() : flags['identity-token'];
  // Credentials on the command line win; otherwise the stored ones, looked up only when the registry asks.
  const given: Credentials | undefined =
    identityToken !== undefined
      ? { username: username ?? '', password: '', identityToken }
      : username !== undefined && password !== undefined
        ? { username, password }
        : undefined;
  const store = new CredentialStore({ configPath: flags['registry-config'] });
  // One lookup per client: parallel requests that meet the same challenge do not each run a helper.
  let stored: Promise<Credentials | undefined> | undefined;
  return new HttpClient({
    headers: parseHeaders(flags.header),
    dispatcher: createDispatcher(transportOptions(flags)),
    ...(flags.debug === true ? { onExchange: debugExchangeLog() } : {}),
    credentials: (requestHost: string) => (requestHost !== host ? undefined : (given ?? (stored ??= store.get(registry)))),
  });
}

/**
 * Opens the store a reference argument names.
 * @throws StowageError `INVALID_REFERENCE`, `INVALID_ARGUMENT`, `INVALID_LAYOUT`, `NOT_FOUND`, `FILE_NOT_FOUND`.
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

/** Reads a file the user named, with a clear error. */
export async function readUserFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new StowageError('FILE_NOT_FOUND', `${what} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error)}`, { cause: error });
  }
}
