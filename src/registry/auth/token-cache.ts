/**
 * Bearer tokens cached per (realm, service, scope set) until shortly before they expire, reused for any
 * request whose scopes are a subset of a cached token's, and fetched once for all concurrent requests that
 * need the same scopes (single flight: twenty parallel blob uploads make one token request).
 */
import { isStowageError } from '../../errors.js';
import { mergeScopes, scopesCover } from './scope.js';

/** Lifetime assumed when the token server does not say (docker token spec: `expires_in` defaults to 60 s). */
export const defaultTokenLifetimeSeconds = 60;
/** The most a token is renewed before it expires; shorter-lived tokens are renewed a tenth of their life early. */
export const maxRenewEarlyMs = 30_000;

/** A token as the token server gave it. */
export interface IssuedToken {
  token: string;
  /** Seconds the token lives; {@link defaultTokenLifetimeSeconds} when absent. */
  expiresIn?: number | undefined;
}

/** A cached token and what it was asked for. */
export interface CachedToken {
  token: string;
  /** The scopes that were asked for (merged and sorted); the server may have granted fewer. */
  scopes: readonly string[];
  /** Epoch milliseconds after which the token is not used any more (already a little before it expires). */
  renewAt: number;
}

/** Where a token comes from and what it must cover. */
export interface TokenKey {
  realm: string;
  service: string | undefined;
  scopes: readonly string[];
}

interface Pending {
  scopes: readonly string[];
  promise: Promise<CachedToken>;
}

/** Options of {@link TokenCache}. */
export interface TokenCacheOptions {
  /** The clock, in epoch milliseconds (tests move it). Default: `Date.now`. */
  now?: () => number;
}

/**
 * Tokens per (realm, service), each remembered with the sorted scope set it was asked for. A lookup takes
 * any unexpired token whose scope set covers the wanted one, else joins a fetch in flight that covers it,
 * else starts a fetch.
 */
export class TokenCache {
  private readonly now: () => number;
  private readonly tokens = new Map<string, Map<string, CachedToken>>();
  private readonly pending = new Map<string, Map<string, Pending>>();

  constructor(options: TokenCacheOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** An unexpired cached token covering `key.scopes`, or undefined. */
  find(key: TokenKey): CachedToken | undefined {
    const scopes = mergeScopes(key.scopes);
    const now = this.now();
    const tokens = this.tokens.get(serverKey(key));
    if (tokens === undefined) return undefined;
    // The exact scope set first (cheap), then any wider one.
    const exact = tokens.get(scopeKey(scopes));
    if (exact !== undefined && exact.renewAt > now) return exact;
    for (const entry of tokens.values()) {
      if (entry.renewAt > now && scopesCover(entry.scopes, scopes)) return entry;
    }
    return undefined;
  }

  /**
   * A token covering `key.scopes`: cached, or from a fetch in flight that covers them, or from `fetch` (which
   * is then shared with every caller that needs a subset of its scopes until it settles). The fetch is
   * asked for exactly `key.scopes`. A fetch that fails with `ABORTED` because another caller's signal fired
   * is started again for a caller whose own signal has not fired.
   * @throws whatever `fetch` throws.
   */
  async obtain(key: TokenKey, fetch: () => Promise<IssuedToken>, signal?: AbortSignal): Promise<CachedToken> {
    const scopes = mergeScopes(key.scopes);
    for (;;) {
      const cached = this.find({ ...key, scopes });
      if (cached !== undefined) return cached;
      const joined = this.findPending(key, scopes);
      const promise = joined ?? this.start(key, scopes, fetch);
      try {
        return await promise;
      } catch (error) {
        // Someone else's Ctrl-C is not ours: fetch again for this caller.
        if (joined !== undefined && isStowageError(error, 'ABORTED') && signal?.aborted !== true) continue;
        throw error;
      }
    }
  }

  /** Forgets a token the registry refused (expired or revoked), so the next lookup fetches a new one. */
  invalidate(key: Omit<TokenKey, 'scopes'>, token: string): void {
    const tokens = this.tokens.get(serverKey(key));
    if (tokens === undefined) return;
    for (const [scopes, entry] of tokens) if (entry.token === token) tokens.delete(scopes);
  }

  /** The cached entry that holds `token`, if any (to know which scopes it was asked for). */
  entryFor(key: Omit<TokenKey, 'scopes'>, token: string): CachedToken | undefined {
    for (const entry of this.tokens.get(serverKey(key))?.values() ?? []) if (entry.token === token) return entry;
    return undefined;
  }

  private findPending(key: TokenKey, scopes: readonly string[]): Promise<CachedToken> | undefined {
    const pending = this.pending.get(serverKey(key));
    if (pending === undefined) return undefined;
    const exact = pending.get(scopeKey(scopes));
    if (exact !== undefined) return exact.promise;
    for (const entry of pending.values()) if (scopesCover(entry.scopes, scopes)) return entry.promise;
    return undefined;
  }

  private start(key: TokenKey, scopes: readonly string[], fetch: () => Promise<IssuedToken>): Promise<CachedToken> {
    const server = serverKey(key);
    const id = scopeKey(scopes);
    let pending = this.pending.get(server);
    if (pending === undefined) {
      pending = new Map();
      this.pending.set(server, pending);
    }
    const started = this.now();
    // Started on a microtask, so the entry is registered before `fetch` can settle.
    const promise: Promise<CachedToken> = Promise.resolve()
      .then(fetch)
      .then((issued) => {
        const entry: CachedToken = { token: issued.token, scopes, renewAt: renewAt(started, issued.expiresIn) };
        this.store(server, id, entry);
        return entry;
      })
      .finally(() => {
        if (pending.get(id)?.promise === promise) pending.delete(id);
      });
    pending.set(id, { scopes, promise });
    return promise;
  }

  private store(server: string, id: string, entry: CachedToken): void {
    let tokens = this.tokens.get(server);
    if (tokens === undefined) {
      tokens = new Map();
      this.tokens.set(server, tokens);
    }
    const now = this.now();
    for (const [scopes, old] of tokens) if (old.renewAt <= now) tokens.delete(scopes);
    tokens.set(id, entry);
  }
}

/**
 * When a token fetched at `fetchedAt` should be replaced: its lifetime (counted from when it was asked
 * for, so network time only shortens it) minus a tenth of it, at most {@link maxRenewEarlyMs}.
 */
export function renewAt(fetchedAt: number, expiresIn: number | undefined): number {
  const lifetimeMs = (expiresIn !== undefined && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : defaultTokenLifetimeSeconds) * 1000;
  return fetchedAt + lifetimeMs - Math.min(maxRenewEarlyMs, lifetimeMs / 10);
}

function serverKey(key: Omit<TokenKey, 'scopes'>): string {
  return JSON.stringify([key.realm, key.service ?? null]);
}

function scopeKey(scopes: readonly string[]): string {
  return scopes.join(' ');
}
