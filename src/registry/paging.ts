/** Paged listings (tags, catalog): GET, then follow `Link: <url>; rel="next"` (distribution spec). */
import type { z } from 'zod';
import { StowageError } from '../errors.js';
import { parseJson } from '../oci/schemas.js';
import { readBody, registryError, type HttpClient, type HttpResponse } from './http.js';

/** Pages followed per listing before giving up (a registry that links in circles must not loop forever). */
export const maxPages = 10_000;
/** Bytes read per page. */
export const maxPageBytes = 4 * 1024 * 1024;

/**
 * The URL of the next page from a response's `Link` header (RFC 8288), resolved against the response URL,
 * or undefined on the last page.
 * @throws StowageError `REGISTRY_ERROR` when the link is malformed or points to another origin.
 */
export function nextPageUrl(response: HttpResponse, operation: string): URL | undefined {
  const raw = response.headers.link;
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  for (const value of values) {
    // `<url>; rel="next", <url2>; rel="prev"`: a URL cannot contain `>`, so each link starts at a `<`.
    for (const match of value.matchAll(/<([^>]*)>([^<]*)/g)) {
      const target = match[1] ?? '';
      const params = match[2] ?? '';
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
      const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
      if (!relations.includes('next')) continue;
      let url: URL;
      try {
        url = new URL(target, response.url);
      } catch (error) {
        throw new StowageError('REGISTRY_ERROR', `${operation}: invalid Link header "${value}"`, { cause: error });
      }
      if (url.origin !== response.url.origin) {
        throw new StowageError('REGISTRY_ERROR', `${operation}: the next page is on another origin (${url.origin})`);
      }
      return url;
    }
  }
  return undefined;
}

/** What {@link listPages} needs to know. */
export interface ListPagesOptions<T> {
  client: HttpClient;
  url: URL;
  operation: string;
  scopes: readonly string[];
  schema: z.ZodType<T>;
  /** The entries of one page's document. */
  entries: (document: T) => string[];
  signal?: AbortSignal | undefined;
}

/**
 * Yields the entries of each non-empty page, following `Link` headers on the same origin, up to
 * {@link maxPages} pages of at most {@link maxPageBytes} each.
 * @throws StowageError `NOT_FOUND`, `UNAUTHORIZED`, `DENIED`, `UNSUPPORTED`, `REGISTRY_ERROR`, `TOO_LARGE`,
 *   `INVALID_MANIFEST` (a page that is not the expected JSON), `NETWORK`, `ABORTED`.
 */
export async function* listPages<T>(options: ListPagesOptions<T>): AsyncGenerator<string[], void, undefined> {
  const { client, operation } = options;
  let url: URL | undefined = options.url;
  const seen = new Set<string>();
  for (let page = 0; url !== undefined; page++) {
    if (page >= maxPages || seen.has(url.href)) {
      throw new StowageError('REGISTRY_ERROR', `${operation}: the registry keeps linking to more pages (stopped after ${page})`);
    }
    seen.add(url.href);
    const response = await client.send({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      operation,
      scopes: options.scopes,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (response.status !== 200) throw await registryError(response, operation);
    const document = parseJson(options.schema, await readBody(response, maxPageBytes, operation), operation);
    url = nextPageUrl(response, operation);
    const entries = options.entries(document);
    if (entries.length > 0) yield entries;
  }
}
