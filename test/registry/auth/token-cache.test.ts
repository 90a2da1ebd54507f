import { describe, expect, it } from 'vitest';
import { StowageError } from '../../../src/errors.js';
import { renewAt, TokenCache } from '../../../src/registry/auth/token-cache.js';

const server = { realm: 'https://auth.example/token', service: 'registry.example' };

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return { now: () => time, advance: (ms) => { time += ms; } };
}

describe('renewAt', () => {
  it('renews a tenth of the lifetime early, at most 30 s, and assumes 60 s when not told', () => {
    expect(renewAt(0, 300)).toBe(270_000);
    expect(renewAt(0, 3600)).toBe(3_570_000);
    expect(renewAt(0, undefined)).toBe(54_000);
    expect(renewAt(0, 0)).toBe(54_000);
    expect(renewAt(0, 1)).toBe(900);
  });
});

describe('TokenCache', () => {
  it('caches per scope set until the token is due for renewal', async () => {
    const time = clock();
    const cache = new TokenCache({ now: time.now });
    let fetches = 0;
    const fetch = (): Promise<{ token: string; expiresIn: number }> => Promise.resolve({ token: `t${++fetches}`, expiresIn: 10 });
    const key = { ...server, scopes: ['repository:a:pull'] };
    expect((await cache.obtain(key, fetch)).token).toBe('t1');
    time.advance(8_000);
    expect((await cache.obtain(key, fetch)).token).toBe('t1');
    time.advance(1_000); // 9 s of 10: renewed early
    expect((await cache.obtain(key, fetch)).token).toBe('t2');
    expect(fetches).toBe(2);
  });

  it('reuses a token for any subset of its scopes, but not for more', async () => {
    const cache = new TokenCache();
    const asked: string[][] = [];
    const fetch = (scopes: string[]) => () => {
      asked.push(scopes);
      return Promise.resolve({ token: `for ${scopes.join(' ')}` });
    };
    const wide = ['repository:a:pull,push', 'repository:b:pull'];
    await cache.obtain({ ...server, scopes: wide }, fetch(wide));
    expect((await cache.obtain({ ...server, scopes: ['repository:a:pull'] }, fetch(['x']))).token).toBe('for repository:a:pull,push repository:b:pull');
    expect((await cache.obtain({ ...server, scopes: [] }, fetch(['y']))).scopes).toEqual(wide);
    await cache.obtain({ ...server, scopes: ['repository:a:delete'] }, fetch(['repository:a:delete']));
    // Another service or realm never shares.
    await cache.obtain({ ...server, service: 'other', scopes: ['repository:a:pull'] }, fetch(['other']));
    expect(asked).toEqual([wide, ['repository:a:delete'], ['other']]);
  });

  it('shares one fetch among concurrent callers (single flight), also for subsets of a fetch in flight', async () => {
    const cache = new TokenCache();
    let fetches = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const fetch = async (): Promise<{ token: string }> => {
      fetches++;
      await gate;
      return { token: 'shared' };
    };
    const wanted = ['repository:app:pull,push'];
    const waiting = Array.from({ length: 20 }, (_, i) => cache.obtain({ ...server, scopes: i % 2 === 0 ? wanted : ['repository:app:pull'] }, fetch));
    // The pull-only callers started after the pull,push one: they join it.
    release();
    const tokens = await Promise.all(waiting);
    expect(new Set(tokens.map((token) => token.token))).toEqual(new Set(['shared']));
    expect(fetches).toBe(1);
  });

  it('lets every waiter see a failed fetch, and fetches again next time', async () => {
    const cache = new TokenCache();
    let fetches = 0;
    const failing = (): Promise<{ token: string }> => {
      fetches++;
      return Promise.reject(new StowageError('UNAUTHORIZED', 'no'));
    };
    const key = { ...server, scopes: ['repository:a:pull'] };
    const results = await Promise.allSettled([cache.obtain(key, failing), cache.obtain(key, failing)]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(fetches).toBe(1);
    await expect(cache.obtain(key, () => Promise.resolve({ token: 'ok' }))).resolves.toMatchObject({ token: 'ok' });
  });

  it('fetches again for a waiter whose own signal did not fire when the shared fetch was cancelled', async () => {
    const cache = new TokenCache();
    let fetches = 0;
    const key = { ...server, scopes: ['repository:a:pull'] };
    const first = cache.obtain(key, () => {
      fetches++;
      return Promise.reject(new StowageError('ABORTED', 'cancelled'));
    });
    const second = cache.obtain(key, () => {
      fetches++;
      return Promise.resolve({ token: 'mine' });
    }, new AbortController().signal);
    await expect(first).rejects.toThrow('cancelled');
    await expect(second).resolves.toMatchObject({ token: 'mine' });
    expect(fetches).toBe(2);
  });

  it('forgets an invalidated token and finds the entry of a token', async () => {
    const cache = new TokenCache();
    const key = { ...server, scopes: ['repository:a:pull'] };
    await cache.obtain(key, () => Promise.resolve({ token: 'old' }));
    expect(cache.entryFor(server, 'old')?.scopes).toEqual(['repository:a:pull']);
    cache.invalidate(server, 'old');
    expect(cache.find(key)).toBeUndefined();
    expect(cache.entryFor(server, 'old')).toBeUndefined();
  });
});
