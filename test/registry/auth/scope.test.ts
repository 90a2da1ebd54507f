import { describe, expect, it } from 'vitest';
import { formatScope, mergeScopes, parseScope, repositoryScope, scopesCover } from '../../../src/registry/auth/scope.js';

describe('parseScope', () => {
  it('splits type, name and sorted actions; the name may hold colons', () => {
    expect(parseScope('repository:team/app:push,pull')).toEqual({ type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
    expect(parseScope('repository(plugin):a/b:pull')).toEqual({ type: 'repository(plugin)', name: 'a/b', actions: ['pull'] });
    expect(parseScope('repository:localhost:5000/app:pull')).toEqual({ type: 'repository', name: 'localhost:5000/app', actions: ['pull'] });
    expect(parseScope('repository:app:pull,,pull')).toEqual({ type: 'repository', name: 'app', actions: ['pull'] });
    expect(formatScope({ type: 'repository', name: 'app', actions: ['pull', 'push'] })).toBe('repository:app:pull,push');
  });

  it('rejects what is not type:name:actions', () => {
    for (const bad of ['', 'repository', 'repository:app', ':app:pull', 'repository::pull', 'repository:a b:pull']) expect(parseScope(bad)).toBeUndefined();
  });
});

describe('mergeScopes', () => {
  it('unions the actions of the same resource and sorts the result', () => {
    expect(mergeScopes(['repository:b:push', 'repository:a:pull'], ['repository:b:pull', 'repository:a:pull'])).toEqual([
      'repository:a:pull',
      'repository:b:pull,push',
    ]);
  });

  it('adds pull on a mount source beside pull,push on the target', () => {
    expect(mergeScopes([repositoryScope('app', ['push', 'pull'])], [repositoryScope('base', ['pull'])])).toEqual(['repository:app:pull,push', 'repository:base:pull']);
  });

  it('splits space-separated scopes (a challenge may name several), keeps unparsed ones once, drops empty action lists', () => {
    expect(mergeScopes(['repository:a:pull repository:b:pull  ', 'odd'], undefined, ['odd', 'repository:c:'])).toEqual(['odd', 'repository:a:pull', 'repository:b:pull']);
    expect(mergeScopes()).toEqual([]);
  });
});

describe('scopesCover', () => {
  it('is true when every wanted action is granted for its resource', () => {
    expect(scopesCover(['repository:a:pull,push'], ['repository:a:pull'])).toBe(true);
    expect(scopesCover(['repository:a:pull,push', 'repository:b:pull'], ['repository:b:pull', 'repository:a:push'])).toBe(true);
    expect(scopesCover(['repository:a:*'], ['repository:a:delete'])).toBe(true);
    expect(scopesCover(['repository:a:pull'], [])).toBe(true);
  });

  it('is false for a missing action, resource or opaque scope', () => {
    expect(scopesCover(['repository:a:pull'], ['repository:a:pull,push'])).toBe(false);
    expect(scopesCover(['repository:a:pull'], ['repository:b:pull'])).toBe(false);
    expect(scopesCover([], ['repository:a:pull'])).toBe(false);
    expect(scopesCover(['opaque'], ['other'])).toBe(false);
    expect(scopesCover(['opaque'], ['opaque'])).toBe(true);
  });
});
