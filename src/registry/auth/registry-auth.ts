/**
 * The default auth handler: answers `Basic` and `Bearer` challenges the way docker and ORAS do, remembers
 * per host which scheme (and which realm and service) it uses so later requests authenticate up front, and
 * caches Bearer tokens per scope set with single flight (see {@link TokenCache}).
 */
import { StowageError } from '../../errors.js';
import { displayRealm, fetchToken, grantedAccess, parseBearerChallenge, parseScopes, type BearerChallenge } from './bearer.js';
import type { Challenge } from './challenge.js';
import type { AuthContext, AuthHandler, Credentials, CredentialsProvider } from './handler.js';
import { mergeScopes, scopesCover, type ParsedScope } from './scope.js';
import { TokenCache, type CachedToken } from './token-cache.js';

/** The user name docker's credential helpers return with an identity token as the password. */
export const identityTokenUsername = '<token>';

/** Options of {@link RegistryAuthHandler}. */
export interface RegistryAuthOptions {
  /** Credentials per registry host (looked up once per host). Default: none (anonymous tokens only). */
  credentials?: CredentialsProvider | undefined;
  /**
   * Ask for tokens with OAuth2 POST `grant_type=password` when a user name and password are given (as
   * oras-go's `ForceAttemptOAuth2`), falling back to GET when the token server does not support it.
   * Default: false (GET with Basic credentials; identity tokens always use POST).
   */
  forceOAuth2?: boolean | undefined;
  /** OAuth2 `client_id`. Default: `stowage`. */
  clientId?: string | undefined;
  /**
   * Called when an OAuth2 answer carries a new refresh token for a host, so a credential store can keep it.
   * When the request used an identity token, the new one also replaces it in memory. Errors it throws or
   * rejects with are ignored (the token in hand still works).
   */
  onIdentityToken?: ((host: string, identityToken: string) => void | Promise<void>) | undefined;
  /** The clock for token expiry, in epoch milliseconds. Default: `Date.now`. */
  now?: (() => number) | undefined;
}

type HostScheme = { kind: 'basic'; header: string } | { kind: 'bearer'; realm: URL; service: string | undefined };

/** What stored credentials mean for a token request. */
interface TokenCredentials {
  basic: { username: string; password: string } | undefined;
  identityToken: string | undefined;
  registryToken: string | undefined;
}

const bearerPrefix = /^Bearer\s+/i;

/**
 * Registry authentication: Basic and Bearer challenges, anonymous tokens, identity (refresh) tokens, token
 * scopes merged per request (its own, those declared for the host with `HttpClient.addScopes`, and any a
 * registry asked for with `insufficient_scope`), and a token cache shared by all requests of the client.
 *
 * Errors it throws from `authorization` and `challenge` (so from any request of the client):
 * `UNAUTHORIZED` (the token server refused the credentials or wants some; anonymous access refused),
 * `DENIED` (a token was granted without the scope the request needs, `insufficient_scope`),
 * `NETWORK` (the token server is unreachable, naming the realm), `REGISTRY_ERROR` (a malformed challenge,
 * a refused realm, a token answer without a token), `TOO_LARGE`, `ABORTED`.
 */
export class RegistryAuthHandler implements AuthHandler {
  private readonly credentials: CredentialsProvider | undefined;
  private readonly forceOAuth2: boolean;
  private readonly clientId: string;
  private readonly onIdentityToken: RegistryAuthOptions['onIdentityToken'];
  private readonly tokens: TokenCache;
  private readonly schemes = new Map<string, HostScheme>();
  // Scopes a registry asked for beyond the request's own (insufficient_scope), asked for from then on.
  private readonly learnedScopes = new Map<string, string[]>();
  private readonly credentialLookups = new Map<string, Promise<Credentials | undefined>>();
  private readonly identityTokens = new Map<string, string>();

  constructor(options: RegistryAuthOptions = {}) {
    this.credentials = options.credentials;
    this.forceOAuth2 = options.forceOAuth2 ?? false;
    this.clientId = options.clientId ?? 'stowage';
    this.onIdentityToken = options.onIdentityToken;
    this.tokens = new TokenCache(options.now === undefined ? {} : { now: options.now });
  }

  /**
   * Basic credentials, or a Bearer token for the request's scopes (cached, or fetched now), once the host
   * has challenged; nothing before.
   * @throws StowageError as listed on the class.
   */
  async authorization(context: AuthContext): Promise<string | undefined> {
    const scheme = this.schemes.get(context.host);
    if (scheme === undefined) return undefined;
    if (scheme.kind === 'basic') return scheme.header;
    const token = await this.token(context, scheme, this.scopesFor(context));
    return `Bearer ${token.token}`;
  }

  /**
   * Answers a 401: a Bearer challenge (preferred) gets a token for the request's scopes plus the
   * challenge's; a Basic challenge gets the host's credentials. Returns false when a retry cannot help
   * (no credentials for Basic, or the same ones were just refused).
   * @throws StowageError as listed on the class: `DENIED` when the registry says `insufficient_scope` for
   *   a token that was asked for that scope.
   */
  async challenge(context: AuthContext, challenges: readonly Challenge[], sent: string | undefined): Promise<boolean> {
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
    if (bearer !== undefined) return this.bearerChallenge(context, parseBearerChallenge(bearer, context.url, context.operation), sent);
    if (challenges.some((challenge) => challenge.scheme === 'basic')) return this.basicChallenge(context, sent);
    return false;
  }

  private async basicChallenge(context: AuthContext, sent: string | undefined): Promise<boolean> {
    const credentials = await this.lookup(context.host);
    const { basic } = tokenCredentials(credentials);
    if (basic === undefined) return false;
    const header = `Basic ${Buffer.from(`${basic.username}:${basic.password}`, 'utf8').toString('base64')}`;
    // The same credentials were just refused: a retry would be refused again.
    if (header === sent) {
      this.schemes.delete(context.host);
      return false;
    }
    this.schemes.set(context.host, { kind: 'basic', header });
    return true;
  }

  private async bearerChallenge(context: AuthContext, challenge: BearerChallenge, sent: string | undefined): Promise<boolean> {
    const scheme: HostScheme = { kind: 'bearer', realm: challenge.realm, service: challenge.service };
    const previous = this.schemes.get(context.host);
    this.schemes.set(context.host, scheme);
    // A registry token is all there is: send it, once.
    const { registryToken } = tokenCredentials(await this.lookup(context.host));
    if (registryToken !== undefined) return sent !== `Bearer ${registryToken}`;
    const sameServer = previous?.kind === 'bearer' && previous.realm.href === scheme.realm.href && previous.service === scheme.service;
    const sentToken = sent !== undefined && bearerPrefix.test(sent) ? sent.replace(bearerPrefix, '') : undefined;
    const server = { realm: scheme.realm.href, service: scheme.service };
    const sentEntry = sentToken === undefined || !sameServer ? undefined : this.tokens.entryFor(server, sentToken);

    if (challenge.error === 'insufficient_scope') {
      const needed = mergeScopes(challenge.scopes);
      // The token was asked for what the registry needs and was granted less: asking again gets the same.
      if (sentToken !== undefined && sentEntry !== undefined && scopesCover(sentEntry.scopes, needed)) {
        throw await this.insufficientScope(context, needed, sentToken);
      }
      // The request did not ask for enough: ask for the registry's scopes too, from now on for this host.
      this.learnedScopes.set(context.host, mergeScopes(this.learnedScopes.get(context.host), needed));
    } else if (sentToken !== undefined) {
      // Expired or revoked (invalid_token), or refused for a reason the registry did not say: fetch anew.
      this.tokens.invalidate(server, sentToken);
    }
    const wanted = mergeScopes(this.scopesFor(context), challenge.scopes);
    const token = await this.token(context, scheme, wanted);
    // A JWT says what it grants: when it lacks what the registry just asked for, the retry would only
    // earn another 401, so say why now (opaque tokens get the retry).
    const needed = mergeScopes(challenge.scopes);
    if ((challenge.error === 'insufficient_scope' && token.token === sentToken) || lacksScopes(grantedAccess(token.token), needed)) {
      throw await this.insufficientScope(context, needed, token.token);
    }
    return true;
  }

  private scopesFor(context: AuthContext): string[] {
    return mergeScopes(context.scopes, this.learnedScopes.get(context.host));
  }

  private async token(context: AuthContext, scheme: HostScheme & { kind: 'bearer' }, scopes: readonly string[]): Promise<CachedToken> {
    const { registryToken } = tokenCredentials(await this.lookup(context.host));
    if (registryToken !== undefined) return { token: registryToken, scopes, renewAt: Number.POSITIVE_INFINITY };
    return this.tokens.obtain(
      { realm: scheme.realm.href, service: scheme.service, scopes },
      async () => {
        const credentials = tokenCredentials(await this.lookup(context.host));
        const identityToken = this.identityTokens.get(context.host) ?? credentials.identityToken;
        const fetched = await fetchToken({
          realm: scheme.realm,
          service: scheme.service,
          scopes,
          registry: context.host,
          basic: credentials.basic,
          identityToken,
          forceOAuth2: this.forceOAuth2,
          clientId: this.clientId,
          send: context.send,
          operation: context.operation,
          signal: context.signal,
        });
        if (fetched.refreshToken !== undefined && fetched.refreshToken !== identityToken) {
          if (identityToken !== undefined) this.identityTokens.set(context.host, fetched.refreshToken);
          await this.reportIdentityToken(context.host, fetched.refreshToken);
        }
        return fetched;
      },
      context.signal,
    );
  }

  private async reportIdentityToken(host: string, identityToken: string): Promise<void> {
    if (this.onIdentityToken === undefined) return;
    try {
      await this.onIdentityToken(host, identityToken);
    } catch {
      // Persisting is the store's business; the token in hand still works.
    }
  }

  private lookup(host: string): Promise<Credentials | undefined> {
    const provider = this.credentials;
    if (provider === undefined) return Promise.resolve(undefined);
    let lookup = this.credentialLookups.get(host);
    if (lookup === undefined) {
      // Once per host: a credential helper is a process to start.
      lookup = Promise.resolve().then(() => provider(host));
      this.credentialLookups.set(host, lookup);
      // A failed lookup is not remembered, so a later request may try again.
      lookup.catch(() => this.credentialLookups.delete(host));
    }
    return lookup;
  }

  private async insufficientScope(context: AuthContext, needed: readonly string[], token: string): Promise<StowageError> {
    const credentials = tokenCredentials(await this.lookup(context.host));
    const anonymous = credentials.basic === undefined && credentials.identityToken === undefined && !this.identityTokens.has(context.host);
    const scheme = this.schemes.get(context.host);
    const realm = scheme?.kind === 'bearer' ? ` at ${displayRealm(scheme.realm)}` : '';
    const wanted = parseScopes(needed);
    const granted = grantedAccess(token);
    const missing = wanted
      .map((scope) => ({ scope, actions: scope.actions.filter((action) => !hasAction(granted, scope, action)) }))
      .filter((entry) => entry.actions.length > 0);
    const single = wanted.length <= 1;
    const grantedText =
      granted === undefined
        ? `did not grant ${needed.join(' ')}`
        : `granted ${single ? describeGrant(granted, wanted[0]) : wanted.map((scope) => `${describeGrant(granted, scope)} on ${scope.name}`).join(', ')}`;
    const missingText =
      missing.length === 0
        ? 'do this'
        : single
          ? missing[0]?.actions.join(' and ') ?? 'do this'
          : missing.map((entry) => `${entry.actions.join(' and ')} ${entry.scope.name}`).join(' and ');
    if (anonymous) {
      return new StowageError('UNAUTHORIZED', `${context.operation}: anonymous access is not enough: the token server${realm} ${grantedText} (insufficient_scope); log in with an account that may ${missingText}`);
    }
    return new StowageError('DENIED', `${context.operation}: the token server${realm} ${grantedText} (insufficient_scope); check that your account may ${missingText}`);
  }
}

/** True when a JWT's grant is known and misses an action of `needed`. */
function lacksScopes(granted: readonly ParsedScope[] | undefined, needed: readonly string[]): boolean {
  if (granted === undefined) return false;
  return parseScopes(needed).some((scope) => scope.actions.some((action) => !hasAction(granted, scope, action)));
}

function hasAction(granted: readonly ParsedScope[] | undefined, scope: ParsedScope, action: string): boolean {
  if (granted === undefined) return false;
  return granted.some((entry) => entry.type === scope.type && entry.name === scope.name && (entry.actions.includes(action) || entry.actions.includes('*')));
}

/** `only pull`, `only pull,push`, or `nothing`, for one wanted resource. */
function describeGrant(granted: readonly ParsedScope[], scope: ParsedScope | undefined): string {
  const actions = new Set<string>();
  for (const entry of granted) if (scope === undefined || (entry.type === scope.type && entry.name === scope.name)) for (const action of entry.actions) actions.add(action);
  return actions.size === 0 ? 'nothing' : `only ${[...actions].sort().join(',')}`;
}

/** Splits stored credentials into Basic credentials and an identity token. */
function tokenCredentials(credentials: Credentials | undefined): TokenCredentials {
  if (credentials === undefined) return { basic: undefined, identityToken: undefined, registryToken: undefined };
  const identityToken =
    credentials.identityToken !== undefined && credentials.identityToken !== ''
      ? credentials.identityToken
      : credentials.username === identityTokenUsername && credentials.password !== ''
        ? credentials.password
        : undefined;
  const hasBasic = credentials.username !== '' && credentials.username !== identityTokenUsername;
  const registryToken = credentials.registryToken !== undefined && credentials.registryToken !== '' ? credentials.registryToken : undefined;
  return { basic: hasBasic ? { username: credentials.username, password: credentials.password } : undefined, identityToken, registryToken };
}
