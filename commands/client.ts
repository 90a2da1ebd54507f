/**
 * The remote flags turned into an HttpClient for one registry: credentials (flags, else stored ones),
 * headers, TLS and proxies, and the --debug log.
 */
import {
  apiHost,
  createDispatcher,
  CredentialStore,
  HttpClient,
  StowageError,
  type Credentials,
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
  /** `--oci-layout-path`: the layout directory, the reference argument then holding only tags or a digest. */
  'oci-layout-path'?: string | undefined;
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

/** Reads all of stdin as text, without a final newline (`--password-stdin`, `--identity-token-stdin`). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
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
