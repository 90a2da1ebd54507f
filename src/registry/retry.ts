/**
 * When a request may be sent again, and how long to wait first: the retry policy of {@link HttpClient}
 * (`http.ts`). Pure decisions (which methods, statuses and failures retry; backoff; `Retry-After`) plus an
 * abortable wait, so the policy is tested without a network.
 *
 * The numbers: at most 5 retries (6 attempts); exponential backoff from 200 ms, doubling, capped at 5 s, with
 * equal jitter (half the step fixed, half random), so without `Retry-After` the retries of one request span
 * 3.1 to 6.2 s: long enough to ride out a registry restart or a load balancer failover, short enough that a
 * registry that is really down fails the command within seconds. Equal rather than full jitter because a
 * CLI is one client with a handful of connections, not a herd: spreading them a little is enough, and a
 * guaranteed minimum wait keeps all retries from landing in the first few hundred milliseconds. A
 * `Retry-After` (seconds or an HTTP date, RFC 9110 section 10.2.3) is the least we wait; one longer than
 * 60 s is not waited for at all (the request fails at once and the error says what the registry asked).
 */
import { abortError, StowageError, errnoCode } from '../errors.js';

/** Retry settings of {@link HttpClient} (`HttpClientOptions.retry`); every field is optional. */
export interface RetryOptions {
  /** How many times a failed request is sent again: default 5 (so at most 6 attempts); 0 disables retries. */
  retries?: number;
  /** The first backoff step, in ms: default 200. Step n is `baseDelayMs * 2^n`, capped at `maxDelayMs`. */
  baseDelayMs?: number;
  /** The largest backoff step, in ms: default 5000. */
  maxDelayMs?: number;
  /**
   * The longest `Retry-After` honoured, in ms: default 60 000. A registry asking for a longer wait gets no
   * retry: its answer is returned (and becomes an error naming the wait it asked for).
   */
  maxRetryAfterMs?: number;
}

/** {@link RetryOptions} with every value set. */
export type RetryPolicy = Readonly<Required<RetryOptions>>;

/** The policy {@link HttpClient} uses by default. */
export const defaultRetryPolicy: RetryPolicy = Object.freeze({ retries: 5, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 60_000 });

/**
 * The policy from options, defaults filled in.
 * @throws StowageError `INVALID_ARGUMENT` when a value is negative, not an integer, or `maxDelayMs < baseDelayMs`.
 */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  const policy = { ...defaultRetryPolicy, ...definedOnly(options) };
  for (const [name, value] of Object.entries(policy)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new StowageError('INVALID_ARGUMENT', `retry option ${name}: expected a whole number >= 0, got ${value}`);
    }
  }
  if (policy.maxDelayMs < policy.baseDelayMs) {
    throw new StowageError('INVALID_ARGUMENT', `retry options: maxDelayMs (${policy.maxDelayMs}) is below baseDelayMs (${policy.baseDelayMs})`);
  }
  return Object.freeze(policy);
}

// With exactOptionalPropertyTypes an explicit `undefined` would otherwise overwrite a default.
function definedOnly(options: RetryOptions): RetryOptions {
  const out: RetryOptions = {};
  if (options.retries !== undefined) out.retries = options.retries;
  if (options.baseDelayMs !== undefined) out.baseDelayMs = options.baseDelayMs;
  if (options.maxDelayMs !== undefined) out.maxDelayMs = options.maxDelayMs;
  if (options.maxRetryAfterMs !== undefined) out.maxRetryAfterMs = options.maxRetryAfterMs;
  return out;
}

/** Statuses that say "try again": 408 Request Timeout, 429 Too Many Requests, 500, 502, 503, 504. */
export const retryableStatuses: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** True when an answer with this status may be asked for again. */
export function isRetryableStatus(status: number): boolean {
  return retryableStatuses.has(status);
}

// Failures of a connection that was up (or of a server that stopped answering), not of reaching it: a
// refused connection, a DNS failure or a TLS verdict fails at once, as retrying would only delay the error.
const retryableErrorCodes: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  // undici: "other side closed", a socket that failed mid-request.
  'UND_ERR_SOCKET',
  // undici: the connection closed before the request could complete.
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The `code` of an error, if it has a string one. */
/**
 * True when a request that failed with `error` (before any answer came) may be sent again: a connection
 * reset, a closed socket, a timeout, found on the error or its causes. A cancellation (`ABORTED`) never is,
 * nor a StowageError of our own making (a body stream that failed verification, say) unless a transport
 * failure caused it (a `NETWORK` error wraps undici's error as its cause).
 */
export function isRetryableError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof StowageError) {
      if (current.code !== 'NETWORK') return false;
    } else {
      const code = errnoCode(current);
      if (code !== undefined && retryableErrorCodes.has(code)) return true;
    }
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

/** What a request carries: nothing, bytes that can be sent again, or a stream that cannot. */
export type BodyKind = 'none' | 'bytes' | 'stream';

/**
 * True when a request may be sent more than once. GET, HEAD and DELETE are idempotent by definition (RFC 9110
 * section 9.2.2); PUT, POST and PATCH only when the caller says so (`idempotent`: a manifest PUT, the POST
 * that opens an upload session) and the body can be sent again. A stream body never can: uploads resume
 * instead of repeating.
 */
export function isRepeatable(method: string, body: BodyKind, idempotent: boolean | undefined): boolean {
  if (body === 'stream') return false;
  if (method === 'GET' || method === 'HEAD' || method === 'DELETE') return true;
  return idempotent === true;
}

/**
 * The wait a `Retry-After` header asks for, in ms: whole seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`, a date in the past meaning 0). Undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds * 1000) ? seconds * 1000 : Number.MAX_SAFE_INTEGER;
  }
  // An HTTP date has a weekday or month name; Date.parse alone would take "1.5" or "2015" as dates.
  if (!/[A-Za-z]{3}/.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * The backoff before retry number `retry` (0 for the first retry), in ms: equal jitter over an exponential
 * step, `step/2 + random * step/2` with `step = min(maxDelayMs, baseDelayMs * 2^retry)`.
 */
export function backoffDelay(retry: number, policy: RetryPolicy = defaultRetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(retry, 30));
  return Math.round(step / 2 + random() * (step / 2));
}

/** What to do after a failed attempt. */
export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: 'attempts' | 'retry-after' };

/**
 * Whether to retry after attempt number `attempt` (1 for the first) failed, and how long to wait: the
 * backoff, or the `Retry-After` wait when longer. No retry once `policy.retries` retries were made, nor when
 * `Retry-After` asks for more than `policy.maxRetryAfterMs`.
 */
export function retryDecision(attempt: number, retryAfterMs: number | undefined, policy: RetryPolicy = defaultRetryPolicy, random: () => number = Math.random): RetryDecision {
  if (attempt > policy.retries) return { retry: false, reason: 'attempts' };
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) return { retry: false, reason: 'retry-after' };
  const backoff = backoffDelay(attempt - 1, policy, random);
  return { retry: true, delayMs: Math.max(backoff, retryAfterMs ?? 0) };
}

/**
 * Waits `ms`, or until `signal` fires.
 * @throws StowageError `ABORTED` (naming `operation`) when the signal fires first or has fired.
 */
export async function waitBeforeRetry(ms: number, signal: AbortSignal | undefined, operation: string): Promise<void> {
  if (signal?.aborted === true) throw abortError(signal, operation);
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal, operation));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
