/** `WWW-Authenticate` challenges (RFC 9110 section 11.6.1): `Basic realm="x"`, `Bearer realm="…",service="…",scope="…"`. */

/** One authentication challenge from a `WWW-Authenticate` header. */
export interface Challenge {
  /** The auth scheme, lowercased: `basic`, `bearer`. */
  scheme: string;
  /** Auth parameters with lowercased names (`realm`, `service`, `scope`, `error`); quoted values unescaped. */
  params: Record<string, string>;
}

// RFC 9110 section 5.6.2: tchar.
const tchar = /^[!#$%&'*+.^_`|~0-9A-Za-z-]$/;

function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\t';
}

/** Parses one header value, which may hold several comma-separated challenges. */
function parseHeader(input: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const readToken = (): string => {
    const start = i;
    while (i < input.length && tchar.test(input.charAt(i))) i++;
    return input.slice(start, i);
  };
  const skipSpaces = (): void => {
    while (isSpace(input[i])) i++;
  };
  const readQuoted = (): string => {
    let value = '';
    i++; // opening quote
    while (i < input.length && input[i] !== '"') {
      if (input[i] === '\\' && i + 1 < input.length) i++;
      value += input.charAt(i);
      i++;
    }
    i++; // closing quote (or end of input)
    return value;
  };

  while (i < input.length) {
    while (i < input.length && (isSpace(input[i]) || input[i] === ',')) i++;
    if (i >= input.length) break;
    const scheme = readToken();
    if (scheme === '') {
      i++; // a stray character: skip it rather than loop
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    skipSpaces();
    // auth-params until something that is not `name=value` (the next challenge's scheme, or the end).
    for (;;) {
      const save = i;
      while (i < input.length && (isSpace(input[i]) || input[i] === ',')) i++;
      const name = readToken();
      skipSpaces();
      if (name === '' || input[i] !== '=') {
        i = save;
        break;
      }
      i++;
      skipSpaces();
      const value = input[i] === '"' ? readQuoted() : readToken();
      challenge.params[name.toLowerCase()] = value;
      skipSpaces();
    }
  }
  return challenges;
}

/**
 * Parses the `WWW-Authenticate` header(s) of an answer into challenges, in order. Malformed parts are
 * skipped rather than rejected: the caller decides what to do when no usable challenge is left.
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  return values.flatMap(parseHeader);
}
