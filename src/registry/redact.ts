/**
 * Redaction of secrets in what is shown of HTTP exchanges (`--debug`): credentials in headers, tokens and
 * signatures in query strings, userinfo in URLs. What stays is what helps debugging: the auth scheme, the
 * parameter names, the hosts and paths.
 */

/** What a redacted value is replaced with. */
export const redacted = '***';

// Headers whose whole value is secret; Authorization-like ones keep their scheme.
const schemeHeaders = new Set(['authorization', 'proxy-authorization']);
const secretHeaders = new Set(['cookie', 'set-cookie']);
// Custom headers (`-H`) that look like they carry a secret: `X-Api-Key`, `X-Auth-Token`, `X-Registry-Auth`.
const secretHeaderPattern = /token|secret|passw|api-?key|credential|registry-auth|session/i;
// Headers that are about auth but hold no secret, and say a lot when debugging it.
const publicHeaders = new Set(['www-authenticate', 'proxy-authenticate']);
// Headers holding URLs (redirects, upload sessions, paging).
const urlHeaders = new Set(['location', 'content-location']);

// Query parameters that carry secrets: OAuth2 and registry tokens, passwords, presigned-URL signatures
// (S3 `X-Amz-Signature`/`X-Amz-Credential`/`X-Amz-Security-Token`, GCS `X-Goog-Signature`, Azure `sig`).
// `_state` (distribution's upload state) is signed, not secret, and helps debugging uploads.
const secretParameterPattern = /token|passw|secret|signature|credential|^sig$|^code$|^key$/i;

/**
 * A URL with userinfo replaced and secret query values hidden; the rest as it was. Relative URLs (a
 * `Location` header) stay relative; text that is no URL at all is hidden whole.
 */
export function redactUrl(url: string | URL): string {
  const text = String(url);
  let parsed: URL;
  let relative = false;
  try {
    parsed = new URL(text);
  } catch {
    try {
      parsed = new URL(text, 'http://relative.invalid');
      relative = true;
    } catch {
      return redacted;
    }
  }
  const userinfo = parsed.username !== '' || parsed.password !== '' ? `${redacted}@` : '';
  const query = parsed.search === '' ? '' : `?${redactQuery(parsed.search.slice(1))}`;
  const tail = `${parsed.pathname}${query}${parsed.hash}`;
  if (!relative) return `${parsed.protocol}//${userinfo}${parsed.host}${tail}`;
  return text.startsWith('//') ? `//${userinfo}${parsed.host}${tail}` : tail;
}

/** `a=1&token=x` -> `a=1&token=***`, keeping names and order as they were sent. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals === -1) return pair;
      let name: string;
      try {
        name = decodeURIComponent(pair.slice(0, equals).replace(/\+/g, ' '));
      } catch {
        name = pair.slice(0, equals);
      }
      return secretParameterPattern.test(name) ? `${pair.slice(0, equals)}=${redacted}` : pair;
    })
    .join('&');
}

/** One header value with its secret hidden: `Authorization: Basic ***`, `Cookie: ***`, URLs redacted. */
export function redactHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (schemeHeaders.has(lower)) {
    const scheme = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s+\S/.exec(value)?.[1];
    return scheme === undefined ? redacted : `${scheme} ${redacted}`;
  }
  if (publicHeaders.has(lower)) return value;
  if (secretHeaders.has(lower) || secretHeaderPattern.test(lower)) return redacted;
  if (urlHeaders.has(lower)) return redactUrl(value);
  if (lower === 'link') return value.replace(/<([^>]*)>/g, (_match, target: string) => `<${redactUrl(target)}>`);
  return value;
}

/** Headers with every secret hidden (see {@link redactHeaderValue}); names are lowercased, undefined dropped. */
export function redactHeaders(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    out[lower] = typeof value === 'string' ? redactHeaderValue(lower, value) : value.map((item) => redactHeaderValue(lower, item));
  }
  return out;
}
