/**
 * Bearer token auth (distribution "Token Authentication Specification" and "OAuth2 Token Authentication"):
 * the challenge's realm, checked before anything is sent to it; the token request, by GET with optional
 * Basic credentials, or by OAuth2 POST with a refresh token (identity token) or a password; and what a
 * JWT says it grants, for messages.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { StowageError } from '../../errors.js';
import { discardBody, readBody, registryError, type HttpRequest, type HttpResponse } from '../http.js';
import type { Challenge } from './challenge.js';
import { parseScope, type ParsedScope } from './scope.js';

/** Token answers are read up to this many bytes. */
export const maxTokenBytes = 1024 * 1024;

/** A Bearer challenge with a realm that may be asked for tokens. */
export interface BearerChallenge {
  realm: URL;
  service: string | undefined;
  /** The challenge's `scope` parameter, split on spaces (empty when absent). */
  scopes: string[];
  /** The challenge's `error` parameter (`invalid_token`, `insufficient_scope`), if any. */
  error: string | undefined;
}

const privateAddresses = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  privateAddresses.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  privateAddresses.addSubnet(network, prefix, 'ipv6');
}

/**
 * True for `localhost` (and `*.localhost`) and for IP literals that are loopback, private, link-local,
 * shared (CGNAT) or unspecified, IPv4-mapped IPv6 included. Names are not resolved.
 */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const mapped = /^::ffff:(?:([0-9.]+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(host);
  if (mapped !== null) {
    const [, dotted, high, low] = mapped;
    if (dotted !== undefined) return isPrivateHost(dotted);
    const word = (hex: string | undefined): number => Number.parseInt(hex ?? '0', 16);
    const value = word(high) * 65536 + word(low);
    return isPrivateHost([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.'));
  }
  const family = isIP(host);
  if (family === 4) return privateAddresses.check(host, 'ipv4');
  if (family === 6) return privateAddresses.check(host, 'ipv6');
  return false;
}

/**
 * Reads a Bearer challenge of `registry` and checks its realm: an http(s) URL without user info; plain http
 * only when the registry itself is plain http; a loopback or private address only when the registry is on
 * one too (or on the same host), so a public registry cannot point the client at local services.
 * @throws StowageError `REGISTRY_ERROR` (no realm, a realm that is not a URL, or a refused realm).
 */
export function parseBearerChallenge(challenge: Challenge, registry: URL, operation: string): BearerChallenge {
  const raw = challenge.params.realm;
  const what = `${operation}: the registry's Bearer challenge`;
  if (raw === undefined || raw === '') throw new StowageError('REGISTRY_ERROR', `${what} has no realm (the token server's URL)`);
  let realm: URL;
  try {
    realm = new URL(raw);
  } catch (error) {
    throw new StowageError('REGISTRY_ERROR', `${what} has an invalid realm "${printable(raw)}"`, { cause: error });
  }
  if (realm.protocol !== 'http:' && realm.protocol !== 'https:') {
    throw new StowageError('REGISTRY_ERROR', `${what} names a ${realm.protocol} realm; only http and https are used`);
  }
  if (realm.username !== '' || realm.password !== '') {
    throw new StowageError('REGISTRY_ERROR', `${what} names a realm with user info; refused`);
  }
  if (realm.protocol === 'http:' && registry.protocol !== 'http:') {
    throw new StowageError('REGISTRY_ERROR', `${what} names a plain-http realm (${displayRealm(realm)}) for a registry on https; refused`);
  }
  if (isPrivateHost(realm.hostname) && !isPrivateHost(registry.hostname) && realm.hostname !== registry.hostname) {
    throw new StowageError('REGISTRY_ERROR', `${what} names a realm on a loopback or private address (${realm.host}) for a public registry; refused`);
  }
  realm.hash = '';
  const scope = challenge.params.scope;
  return {
    realm,
    service: challenge.params.service,
    scopes: scope === undefined ? [] : scope.split(/\s+/).filter((entry) => entry !== ''),
    error: challenge.params.error,
  };
}

/** A realm for messages: origin and path, without the query. */
export function displayRealm(realm: URL): string {
  return `${realm.origin}${realm.pathname}`;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

/** What to ask a token server for, and with which credentials. */
export interface TokenRequestOptions {
  realm: URL;
  service: string | undefined;
  /** Merged scopes; each becomes a `scope` parameter (GET) or one space-separated `scope` field (POST). */
  scopes: readonly string[];
  /** The registry host the token is for, for messages. */
  registry: string;
  /** A username and password: Basic on GET, `grant_type=password` on POST. */
  basic?: { username: string; password: string } | undefined;
  /** An OAuth2 refresh token: POST `grant_type=refresh_token` (no GET fallback). */
  identityToken?: string | undefined;
  /** Ask with POST `grant_type=password` when `basic` is given (falls back to GET). */
  forceOAuth2?: boolean | undefined;
  /** OAuth2 `client_id`. */
  clientId: string;
  /** Sends the request without the registry's auth handler (AuthContext.send). */
  send: (request: HttpRequest) => Promise<HttpResponse>;
  /** The operation the token is for, for messages. */
  operation: string;
  signal?: AbortSignal | undefined;
}

/** A token server's answer. */
export interface FetchedToken {
  token: string;
  /** Seconds, when the server said. */
  expiresIn?: number;
  /** A new refresh token (OAuth2 POST answers only). */
  refreshToken?: string;
}

const tokenAnswerSchema = z.object({
  token: z.string().optional(),
  access_token: z.string().optional(),
  expires_in: z.unknown().optional(),
  refresh_token: z.string().optional(),
});

// RFC 6750 section 2.1 b64token, plus what JWTs use: anything else could break the header or smuggle one.
const tokenCharacters = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Asks a token server for a token. With an identity token: OAuth2 POST `grant_type=refresh_token`. With
 * `forceOAuth2` and a password: POST `grant_type=password`, falling back to GET when the server answers
 * 400, 401, 404 or 405 (servers without OAuth2 support answer so). Otherwise GET `realm?service=&scope=`
 * with Basic credentials if any. The answer (at most 1 MiB) must hold `token` or `access_token`.
 * @throws StowageError `UNAUTHORIZED` (the token server refused the credentials, or wants some),
 *   `DENIED` (it forbids them), `NETWORK` (unreachable, naming the realm), `TOO_LARGE`,
 *   `REGISTRY_ERROR` (any other answer, or one that holds no token), `ABORTED`.
 */
export async function fetchToken(options: TokenRequestOptions): Promise<FetchedToken> {
  if (options.identityToken !== undefined) return postToken(options, { grant_type: 'refresh_token', refresh_token: options.identityToken });
  if (options.forceOAuth2 === true && options.basic !== undefined) {
    const answer = await postToken(options, { grant_type: 'password', username: options.basic.username, password: options.basic.password }, [400, 401, 404, 405]);
    if (answer !== undefined) return answer;
  }
  return getToken(options);
}

function tokenOperation(options: TokenRequestOptions): string {
  return `${options.operation}: request a token from ${displayRealm(options.realm)}`;
}

async function getToken(options: TokenRequestOptions): Promise<FetchedToken> {
  const url = new URL(options.realm);
  if (options.service !== undefined) url.searchParams.append('service', options.service);
  for (const scope of options.scopes) url.searchParams.append('scope', scope);
  // docker sends the user name as `account`; some token servers (docker_auth) use it.
  if (options.basic !== undefined && options.basic.username !== '') url.searchParams.append('account', options.basic.username);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.basic !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.basic.username}:${options.basic.password}`, 'utf8').toString('base64')}`;
  }
  const response = await options.send({
    method: 'GET',
    url,
    headers,
    operation: tokenOperation(options),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (response.status !== 200) throw await refusal(response, options, options.basic === undefined ? 'anonymous' : 'password');
  return readToken(response, options);
}

async function postToken(options: TokenRequestOptions, grant: Record<string, string>): Promise<FetchedToken>;
async function postToken(options: TokenRequestOptions, grant: Record<string, string>, fallbackStatuses: readonly number[]): Promise<FetchedToken | undefined>;
async function postToken(options: TokenRequestOptions, grant: Record<string, string>, fallbackStatuses: readonly number[] = []): Promise<FetchedToken | undefined> {
  const form = new URLSearchParams(grant);
  if (options.service !== undefined) form.set('service', options.service);
  form.set('client_id', options.clientId);
  if (options.scopes.length > 0) form.set('scope', options.scopes.join(' '));
  const response = await options.send({
    method: 'POST',
    url: options.realm,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: Buffer.from(form.toString(), 'utf8'),
    operation: tokenOperation(options),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (fallbackStatuses.includes(response.status)) {
    await discardBody(response);
    return undefined;
  }
  if (response.status !== 200) {
    const grantType = grant.grant_type === 'refresh_token' ? 'identity token' : 'password';
    if (response.status === 404 || response.status === 405) {
      await discardBody(response);
      throw new StowageError(
        'REGISTRY_ERROR',
        `${tokenOperation(options)}: the token server does not accept OAuth2 requests (HTTP ${response.status}), so the ${grantType} for ${options.registry} cannot be used`,
      );
    }
    // OAuth2 servers answer a bad grant with 400 invalid_grant (RFC 6749 section 5.2).
    throw await refusal(response, options, grantType, [400]);
  }
  return readToken(response, options);
}

/** The error for a token request the server refused. */
async function refusal(response: HttpResponse, options: TokenRequestOptions, used: 'anonymous' | 'password' | 'identity token', alsoRefused: readonly number[] = []): Promise<StowageError> {
  const what = tokenOperation(options);
  if (response.status === 401 || response.status === 403 || alsoRefused.includes(response.status)) {
    await discardBody(response);
    const code = response.status === 403 ? 'DENIED' : 'UNAUTHORIZED';
    const whose =
      used === 'anonymous'
        ? `refused anonymous access to ${options.registry}; log in first`
        : used === 'password'
          ? `refused the credentials of "${printable(options.basic?.username ?? '')}" for ${options.registry} (wrong user name or password?)`
          : `refused the identity token for ${options.registry} (expired or revoked?); log in again`;
    return new StowageError(code, `${what}: the token server ${whose} (HTTP ${response.status})`);
  }
  const error = await registryError(response, what);
  return new StowageError('REGISTRY_ERROR', error.message, { cause: error });
}

async function readToken(response: HttpResponse, options: TokenRequestOptions): Promise<FetchedToken> {
  const what = tokenOperation(options);
  const bytes = await readBody(response, maxTokenBytes, what);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8').decode(bytes));
  } catch (error) {
    throw new StowageError('REGISTRY_ERROR', `${what}: the token server's answer is not JSON`, { cause: error });
  }
  const parsed = tokenAnswerSchema.safeParse(json);
  if (!parsed.success) throw new StowageError('REGISTRY_ERROR', `${what}: the token server's answer is not a token answer`, { cause: parsed.error });
  const answer = parsed.data;
  const token = answer.token !== undefined && answer.token !== '' ? answer.token : answer.access_token;
  if (token === undefined || token === '') throw new StowageError('REGISTRY_ERROR', `${what}: the token server's answer holds no token`);
  if (!tokenCharacters.test(token)) throw new StowageError('REGISTRY_ERROR', `${what}: the token server's token has characters a token cannot have`);
  const fetched: FetchedToken = { token };
  if (typeof answer.expires_in === 'number' && Number.isFinite(answer.expires_in) && answer.expires_in > 0) fetched.expiresIn = answer.expires_in;
  if (answer.refresh_token !== undefined && answer.refresh_token !== '') fetched.refreshToken = answer.refresh_token;
  return fetched;
}

const jwtClaimsSchema = z.object({
  access: z
    .array(z.object({ type: z.string(), name: z.string(), actions: z.array(z.string()).nullish() }))
    .nullish(),
});

/**
 * What a token grants, when it is a JWT with docker's `access` claim (read, not verified: only for
 * messages). Undefined for opaque tokens.
 */
export function grantedAccess(token: string): ParsedScope[] | undefined {
  const parts = token.split('.');
  const payload = parts[1];
  if (parts.length !== 3 || payload === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = jwtClaimsSchema.safeParse(json);
  if (!parsed.success) return undefined;
  return (parsed.data.access ?? []).map((entry) => ({ type: entry.type, name: entry.name, actions: [...new Set(entry.actions ?? [])].sort() }));
}

/** `scopes` parsed (unparseable ones left out). */
export function parseScopes(scopes: readonly string[]): ParsedScope[] {
  return scopes.map(parseScope).filter((scope) => scope !== undefined);
}
