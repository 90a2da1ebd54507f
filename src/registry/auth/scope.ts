/**
 * Token scopes (distribution "Token Scope Documentation"): `<type>:<name>:<actions>`, e.g.
 * `repository:team/app:pull,push` or `registry:catalog:*`. Scopes for the same resource are merged into one
 * (the union of their actions), so one token request covers everything an operation needs.
 */

/** A scope split into its parts. `type` may carry a class, as in `repository(plugin)`. */
export interface ParsedScope {
  type: string;
  name: string;
  /** Sorted, without duplicates or empty entries. */
  actions: string[];
}

/** The actions a repository scope can carry. */
export type RepositoryAction = 'pull' | 'push' | 'delete';

/**
 * Splits a scope: the type up to the first `:`, the actions after the last `:`, the name between (names
 * never contain `:`, but a registry host in a name could). Returns undefined for anything else.
 */
export function parseScope(scope: string): ParsedScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  if (name === '' || /\s/.test(scope)) return undefined;
  const actions = [...new Set(scope.slice(last + 1).split(',').filter((action) => action !== ''))].sort();
  return { type, name, actions };
}

/** Formats a parsed scope back: `type:name:a,b`. */
export function formatScope(scope: ParsedScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/** The scope of a repository with the given actions: `repository:<name>:<actions>`, actions sorted. */
export function repositoryScope(name: string, actions: readonly RepositoryAction[]): string {
  return `repository:${name}:${[...new Set(actions)].sort().join(',')}`;
}

/**
 * Merges scope lists into one sorted list with one entry per resource and the union of its actions.
 * Entries may hold several scopes separated by spaces (as a challenge's `scope` parameter may). Scopes
 * that do not parse are kept verbatim (once); resources left with no action are dropped.
 */
export function mergeScopes(...lists: readonly (readonly string[] | undefined)[]): string[] {
  const resources = new Map<string, { type: string; name: string; actions: Set<string> }>();
  const opaque = new Set<string>();
  for (const list of lists) {
    for (const entry of list ?? []) {
      for (const scope of entry.split(/\s+/)) {
        if (scope === '') continue;
        const parsed = parseScope(scope);
        if (parsed === undefined) {
          opaque.add(scope);
          continue;
        }
        const key = `${parsed.type}:${parsed.name}`;
        let resource = resources.get(key);
        if (resource === undefined) {
          resource = { type: parsed.type, name: parsed.name, actions: new Set() };
          resources.set(key, resource);
        }
        for (const action of parsed.actions) resource.actions.add(action);
      }
    }
  }
  const merged = [...opaque];
  for (const resource of resources.values()) {
    if (resource.actions.size === 0) continue;
    merged.push(formatScope({ type: resource.type, name: resource.name, actions: [...resource.actions].sort() }));
  }
  return merged.sort();
}

/**
 * True when a token asked for `granted` also covers every scope in `wanted`: for each wanted resource, the
 * granted scope of the same resource holds all its actions (or `*`). Unparsed scopes must match exactly.
 */
export function scopesCover(granted: readonly string[], wanted: readonly string[]): boolean {
  const have = new Map<string, Set<string>>();
  const opaque = new Set<string>();
  for (const scope of mergeScopes(granted)) {
    const parsed = parseScope(scope);
    if (parsed === undefined) opaque.add(scope);
    else have.set(`${parsed.type}:${parsed.name}`, new Set(parsed.actions));
  }
  for (const scope of mergeScopes(wanted)) {
    const parsed = parseScope(scope);
    if (parsed === undefined) {
      if (!opaque.has(scope)) return false;
      continue;
    }
    const actions = have.get(`${parsed.type}:${parsed.name}`);
    if (actions === undefined) return false;
    if (!actions.has('*') && !parsed.actions.every((action) => actions.has(action))) return false;
  }
  return true;
}
