/**
 * The one place that calls undici. {@link HttpClient} sets the User-Agent, applies the auth handler, follows
 * redirects by hand (dropping credentials on any cross-origin hop), retries what is safe to repeat
 * (`retry.ts` holds the policy), bounds the waits with timeouts, and turns transport failures into
 * `NETWORK` and `ABORTED` errors. Helpers read bounded bodies and turn registry error answers into
 * StowageErrors with codes.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { abortError, describeError, StowageError, throwIfAborted, type ErrorCode } from '../errors.js';
import { errorBodySchema } from '../oci/schemas.js';
import { userAgent as defaultUserAgent } from '../version.js';
import { parseChallenges } from './auth/challenge.js';
import type { AuthContext, AuthHandler, CredentialsProvider } from './auth/handler.js';
import { RegistryAuthHandler } from './auth/registry-auth.js';
import { mergeScopes } from './auth/scope.js';
import { redactHeaders, redactUrl } from './redact.js';
import { isRepeatable, isRetryableError, isRetryableStatus, parseRetryAfter, retryDecision, retryPolicy, waitBeforeRetry, type RetryOptions, type RetryPolicy } from './retry.js';
import { AnswerHandler, type ResponseBody } from './response-body.js';
import { getGlobalDispatcher } from './undici.js';

/** The HTTP methods the distribution API uses. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Response headers as undici gives them: lowercase names, repeated headers as arrays. */
export type HttpHeaders = Record<string, string | string[] | undefined>;

/** A request for {@link HttpClient.send}. */
export interface HttpRequest {
  method: HttpMethod;
  url: string | URL;
  headers?: Record<string, string>;
  /**
   * Bytes can be sent again after a redirect or a 401; a stream cannot, so a stream body gets no auth retry
   * (authenticate with a cheap request first, as uploads do with their POST).
   */
  body?: Uint8Array | Readable;
  signal?: AbortSignal;
  /** Names the operation and reference in error messages, e.g. `fetch blob localhost:5000/app@sha256:…`. */
  operation?: string;
  /** Token scopes the request needs (for Bearer auth; Basic ignores them). */
  scopes?: readonly string[];
  /**
   * The request may be sent again with the same effect (a manifest PUT by digest or tag, the POST that opens
   * an upload session): a PUT, POST or PATCH is retried only when this is set and its body is bytes. GET,
   * HEAD and DELETE are retried without it; a stream body never is.
   */
  idempotent?: boolean;
  /**
   * How long to wait for the answer's headers once the request (body included) is sent, in ms; 0 = no
   * limit. Default: the client's `headersTimeoutMs`. Give more to a request the registry may take long to
   * answer (the closing PUT of a very large upload on object storage).
   */
  headersTimeoutMs?: number;
}

/** The answer to a request: the final hop's status, headers and unread body. */
export interface HttpResponse {
  status: number;
  headers: HttpHeaders;
  /** The body, fed from undici as it arrives. Read it, or let {@link discardBody} / {@link registryError} consume it. */
  body: ResponseBody;
  /** The URL of the final hop, after redirects: resolve relative `Location` and `Link` against it. */
  url: URL;
  /** The signal of the request, so body readers can tell a cancellation from a network failure. */
  signal?: AbortSignal;
  /** The operation named in the request, for messages. */
  operation: string;
  /** How many times the final hop was sent (retries included); absent means once. */
  attempts?: number;
}

/** Options of {@link HttpClient}. */
export interface HttpClientOptions {
  /** An undici Dispatcher (Agent, ProxyAgent, MockAgent; `createDispatcher` makes one from TLS, --resolve and proxy options). Default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Default: `stowage/<version>`. */
  userAgent?: string;
  /** Headers sent with every request (dropped like credentials on cross-origin redirects when sensitive). */
  headers?: Record<string, string>;
  /** Credentials per host, for Basic auth and Bearer token requests. Ignored when `auth` is given. */
  credentials?: CredentialsProvider;
  /**
   * A custom auth handler. Default: a `RegistryAuthHandler` with `credentials` (Basic and Bearer; anonymous
   * tokens when there are no credentials).
   */
  auth?: AuthHandler;
  /**
   * Called for every request sent (each redirect hop and auth retry is one) and for its answer or failure,
   * with secrets already redacted: for `--debug` output. Errors it throws are ignored.
   */
  onExchange?: (event: HttpExchangeEvent) => void;
  /**
   * Retries of requests that are safe to repeat (see {@link HttpRequest.idempotent}) after a connection
   * reset, a timeout or a 408/429/500/502/503/504: how many, and the backoff. Default: 5 retries, backoff
   * 200 ms doubling to 5 s with equal jitter, `Retry-After` honoured up to 60 s (`retry.ts`).
   * `{ retries: 0 }` disables retries.
   */
  retry?: RetryOptions;
  /**
   * How long to wait for an answer's headers, in ms, counted from the last byte of the request sent (and
   * while a request body is being sent, from the last write the registry did not take at once); 0 = no
   * limit. A request that times out is retried when it is safe to repeat. Default 30 000.
   */
  headersTimeoutMs?: number;
  /**
   * How long a response body may go without a byte, in ms, before the connection is dropped and the read
   * fails with `NETWORK`; 0 = no limit. Default 60 000.
   */
  bodyTimeoutMs?: number;
  /** Called before each retry (after the failed attempt, before the wait), with secrets redacted. Errors it throws are ignored. */
  onRetry?: (event: HttpRetryEvent) => void;
}

/** A retry about to happen, as {@link HttpClientOptions.onRetry} sees it (the URL is redacted). */
export interface HttpRetryEvent {
  method: HttpMethod;
  url: string;
  operation: string;
  /** The attempt that failed: 1 for the first. */
  attempt: number;
  /** The wait before the next attempt, in ms. */
  delayMs: number;
  /** Why: `HTTP 503`, or the transport failure (`read ECONNRESET`, `Headers Timeout Error`). */
  reason: string;
  /** The status that failed, when an answer came. */
  status?: number;
}

/**
 * One step of an HTTP exchange, as {@link HttpClientOptions.onExchange} sees it. URLs and headers are
 * redacted (`Authorization: Basic ***`, no cookies, no token query values, no userinfo).
 */
export type HttpExchangeEvent =
  | { kind: 'request'; id: number; method: HttpMethod; url: string; headers: Record<string, string | string[]> }
  | { kind: 'response'; id: number; method: HttpMethod; url: string; status: number; headers: Record<string, string | string[]>; durationMs: number }
  | { kind: 'error'; id: number; method: HttpMethod; url: string; message: string; durationMs: number };

/** Redirects followed per request. */
export const maxRedirects = 10;
/** Error bodies are read up to this many bytes; the rest is discarded. */
export const maxErrorBodyBytes = 4 * 1024 * 1024;
/** Default of {@link HttpClientOptions.headersTimeoutMs}. */
export const defaultHeadersTimeoutMs = 30_000;
/** Default of {@link HttpClientOptions.bodyTimeoutMs}. */
export const defaultBodyTimeoutMs = 60_000;

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
// Never carried to another origin (Fetch spec "HTTP-redirect fetch", step 13, and cookies by their nature).
const credentialHeaders = ['authorization', 'cookie', 'proxy-authorization'];
const bodyHeaders = ['content-type', 'content-length', 'content-range', 'content-encoding'];

/** The first value of a response header, or undefined. */
export function headerValue(headers: HttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function lowercaseKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers) for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

function isReplayable(body: HttpRequest['body']): boolean {
  return body === undefined || body instanceof Uint8Array;
}

function bodyKind(body: HttpRequest['body']): 'none' | 'bytes' | 'stream' {
  return body === undefined ? 'none' : body instanceof Uint8Array ? 'bytes' : 'stream';
}

function checkTimeout(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StowageError('INVALID_ARGUMENT', `${name}: expected a whole number of milliseconds >= 0, got ${value}`);
  }
  return value;
}

/** `N s` or `N ms`, for messages about timeouts. */
function duration(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

/** A failure after retries, its message saying how many attempts were made (code and cause kept). */
function afterAttempts(error: unknown, attempts: number): unknown {
  if (attempts <= 1 || !(error instanceof StowageError) || error.code === 'ABORTED') return error;
  return new StowageError(error.code, `${error.message} (after ${attempts} attempts)`, { cause: error.cause ?? error });
}

/**
 * Turns a failure of undici (or of a body stream) into a StowageError: `ABORTED` when the signal fired,
 * StowageErrors as they are (a verifying body stream fails with its own code), `NETWORK` otherwise.
 */
export function transportError(error: unknown, host: string, operation: string, signal: AbortSignal | undefined): StowageError {
  return transportErrorWith(error, host, operation, signal, undefined);
}

function transportErrorWith(error: unknown, host: string, operation: string, signal: AbortSignal | undefined, timeouts: { headersMs: number; bodyMs: number } | undefined): StowageError {
  if (signal?.aborted === true) return abortError(signal, operation);
  if (error instanceof StowageError) return error;
  return new StowageError('NETWORK', `${operation}: cannot reach ${host}: ${networkReason(error, timeouts)}`, { cause: error });
}

// OpenSSL's verdicts on a server certificate whose chain does not end at a trusted CA.
const untrustedCertificateCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/** One line saying why a connection failed, with the error code (`ECONNREFUSED`, `CERT_HAS_EXPIRED`). */
function networkReason(error: unknown, timeouts?: { headersMs: number; bodyMs: number }): string {
  const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' && timeouts !== undefined) return `no answer within ${duration(timeouts.headersMs)} (${code})`;
  if (code === 'UND_ERR_BODY_TIMEOUT' && timeouts !== undefined) return `no data for ${duration(timeouts.bodyMs)} (${code})`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return 'TLS handshake failed: the server does not speak TLS (a plain-HTTP registry? use plain HTTP)';
  }
  // OpenSSL messages run over several lines of internals; the first says what happened.
  const line = (describeError(error).split('\n')[0] ?? '').trim();
  if (code !== undefined && untrustedCertificateCodes.has(code)) {
    return `the registry's TLS certificate is not trusted: ${line}; trust its CA with --ca-file, or skip verification with --insecure`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' || code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the registry's TLS certificate is not valid: ${line} (${code}); --insecure skips verification`;
  }
  // Node reports a connection tried on several addresses as an AggregateError with an empty message.
  if (line === '' && error instanceof AggregateError) {
    const first: unknown = error.errors[0];
    if (first !== undefined) return networkReason(first);
  }
  return code !== undefined && !line.includes(code) ? `${line} (${code})` : line;
}

/** One hop of a request, as {@link HttpClient} sends it. */
interface Hop {
  url: URL;
  method: HttpMethod;
  headers: Record<string, string>;
  body: HttpRequest['body'];
  signal: AbortSignal | undefined;
  operation: string;
  headersTimeoutMs: number | undefined;
}

/** The transport failure behind an error, in a few words, for retry events. */
function retryReason(error: unknown): string {
  const cause = error instanceof StowageError && error.cause !== undefined ? error.cause : error;
  return (describeError(cause).split('\n')[0] ?? '').trim();
}

/**
 * An HTTP client for registries: one per set of credentials, shared by the repositories of a registry so
 * connections and the auth cache are reused.
 */
export class HttpClient {
  private readonly dispatcher: Dispatcher | undefined;
  private readonly userAgent: string;
  private readonly headers: Record<string, string>;
  private readonly auth: AuthHandler | undefined;
  private readonly declaredScopes = new Map<string, string[]>();
  // Token requests go through the same transport without the auth handler (AuthContext.send).
  private readonly sendWithoutAuth = (request: HttpRequest): Promise<HttpResponse> => this.sendWith(request, undefined);
  private readonly onExchange: ((event: HttpExchangeEvent) => void) | undefined;
  private readonly onRetry: ((event: HttpRetryEvent) => void) | undefined;
  private readonly retry: RetryPolicy;
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;
  private exchanges = 0;

  /**
   * @throws StowageError `INVALID_ARGUMENT` when a retry option or a timeout is not a whole number >= 0.
   */
  constructor(options: HttpClientOptions = {}) {
    this.dispatcher = options.dispatcher;
    this.onExchange = options.onExchange;
    this.onRetry = options.onRetry;
    this.retry = retryPolicy(options.retry);
    this.headersTimeoutMs = checkTimeout('headersTimeoutMs', options.headersTimeoutMs, defaultHeadersTimeoutMs);
    this.bodyTimeoutMs = checkTimeout('bodyTimeoutMs', options.bodyTimeoutMs, defaultBodyTimeoutMs);
    this.userAgent = options.userAgent ?? defaultUserAgent;
    this.headers = lowercaseKeys(options.headers);
    this.auth = options.auth ?? new RegistryAuthHandler({ credentials: options.credentials });
  }

  /**
   * Declares token scopes for every later request to `host` (`host[:port]` as in a URL), merged with each
   * request's own: an operation asks up front for all it will need (a push: `repository:<name>:pull,push`),
   * so one token serves all its requests.
   */
  addScopes(host: string, scopes: readonly string[]): void {
    this.declaredScopes.set(host, mergeScopes(this.declaredScopes.get(host), scopes));
  }

  /**
   * Sends a request and returns the final answer whatever its status (callers check it, and use
   * {@link registryError} for the ones they do not expect). Follows up to {@link maxRedirects} redirects;
   * on a hop to another origin, `Authorization`, `Cookie` and the auth handler are dropped for the rest of
   * the request, and an https -> http downgrade is refused. On a 401 the auth handler may retry once.
   *
   * Each hop of a request that is safe to repeat (GET, HEAD, DELETE; PUT, POST, PATCH marked
   * {@link HttpRequest.idempotent} with a bytes body; never a stream body) is sent again after a connection
   * reset, a closed socket, a timeout, or a 408/429/500/502/503/504, with backoff and `Retry-After` as
   * {@link HttpClientOptions.retry} says; the wait ends early with `ABORTED` when the signal fires. When the
   * retries run out, the last answer is returned (with {@link HttpResponse.attempts}; {@link registryError}
   * then says how many attempts were made) or the last failure thrown, its message ending
   * `(after N attempts)`.
   * @throws StowageError `NETWORK` (connection refused, DNS, reset, TLS, no answer within the headers
   *   timeout), `ABORTED`, `INVALID_ARGUMENT`
   *   (a URL that is not http/https), `REGISTRY_ERROR` (too many redirects, a redirect to another scheme),
   *   and what the auth handler throws (the default one: `UNAUTHORIZED`, `DENIED`, `NETWORK` naming the token
   *   realm, `REGISTRY_ERROR` for a malformed challenge).
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    return this.sendWith(req, this.auth);
  }

  private async sendWith(req: HttpRequest, auth: AuthHandler | undefined): Promise<HttpResponse> {
    const start = new URL(req.url);
    const operation = req.operation ?? `${req.method} ${start.href}`;
    if (start.protocol !== 'http:' && start.protocol !== 'https:') {
      throw new StowageError('INVALID_ARGUMENT', `${operation}: unsupported URL scheme "${start.protocol}"`);
    }
    const baseHeaders = { ...this.headers, ...lowercaseKeys(req.headers) };
    baseHeaders['user-agent'] ??= this.userAgent;

    let url = start;
    let method: HttpMethod = req.method;
    let body = req.body;
    let crossOrigin = false;
    let authRetried = false;
    let hops = 0;
    for (;;) {
      throwIfAborted(req.signal, operation);
      const headers = { ...baseHeaders };
      const scopes = mergeScopes(req.scopes, this.declaredScopes.get(url.host));
      const context: AuthContext = { url, host: url.host, method, scopes, operation, send: this.sendWithoutAuth };
      if (req.signal !== undefined) context.signal = req.signal;
      let sent = headers.authorization;
      if (crossOrigin) {
        for (const name of credentialHeaders) Reflect.deleteProperty(headers, name);
      } else if (auth !== undefined && sent === undefined) {
        sent = await auth.authorization(context);
        if (sent !== undefined) headers.authorization = sent;
      }

      const response = await this.dispatchWithRetries({ url, method, headers, body, signal: req.signal, operation, headersTimeoutMs: req.headersTimeoutMs }, req.idempotent);

      if (redirectStatuses.has(response.status)) {
        const location = headerValue(response.headers, 'location');
        if (location === undefined) return response;
        const changesToGet = (response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST');
        // A stream already (partly) sent cannot be sent again: give the redirect to the caller.
        if (!changesToGet && !isReplayable(body)) return response;
        await discardBody(response);
        if (hops >= maxRedirects) throw new StowageError('REGISTRY_ERROR', `${operation}: more than ${maxRedirects} redirects`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch (error) {
          throw new StowageError('REGISTRY_ERROR', `${operation}: invalid redirect location "${location}"`, { cause: error });
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new StowageError('REGISTRY_ERROR', `${operation}: refusing a redirect to a ${next.protocol} URL`);
        }
        if (url.protocol === 'https:' && next.protocol === 'http:') {
          throw new StowageError('REGISTRY_ERROR', `${operation}: refusing a redirect from https to plain http (${next.host})`);
        }
        if (changesToGet) {
          method = 'GET';
          body = undefined;
          for (const name of bodyHeaders) Reflect.deleteProperty(baseHeaders, name);
        }
        if (next.origin !== start.origin) crossOrigin = true;
        url = next;
        hops++;
        continue;
      }

      if (response.status === 401 && !crossOrigin && !authRetried && auth !== undefined && isReplayable(body)) {
        const challenges = parseChallenges(response.headers['www-authenticate']);
        let retry: boolean;
        try {
          retry = await auth.challenge(context, challenges, sent);
        } catch (error) {
          await discardBody(response);
          throw error;
        }
        if (retry) {
          await discardBody(response);
          authRetried = true;
          continue;
        }
      }
      return response;
    }
  }

  /**
   * One hop, sent again while it fails in a way worth retrying and the policy allows. Answers with a
   * retryable status are drained before the wait; the last one is returned as it is.
   */
  private async dispatchWithRetries(hop: Hop, idempotent: boolean | undefined): Promise<HttpResponse> {
    const repeatable = isRepeatable(hop.method, bodyKind(hop.body), idempotent);
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse;
      try {
        response = await this.dispatch(hop);
      } catch (error) {
        if (!repeatable || !isRetryableError(error)) throw afterAttempts(error, attempt);
        const decision = retryDecision(attempt, undefined, this.retry);
        if (!decision.retry) throw afterAttempts(error, attempt);
        this.reportRetry(hop, { attempt, delayMs: decision.delayMs, reason: retryReason(error) });
        await waitBeforeRetry(decision.delayMs, hop.signal, hop.operation);
        continue;
      }
      if (attempt > 1) response.attempts = attempt;
      if (!repeatable || !isRetryableStatus(response.status)) return response;
      const decision = retryDecision(attempt, parseRetryAfter(headerValue(response.headers, 'retry-after')), this.retry);
      if (!decision.retry) return response;
      await discardBody(response);
      this.reportRetry(hop, { attempt, delayMs: decision.delayMs, reason: `HTTP ${response.status}`, status: response.status });
      await waitBeforeRetry(decision.delayMs, hop.signal, hop.operation);
    }
  }

  private async dispatch(hop: Hop): Promise<HttpResponse> {
    const { url, method, headers, body, signal, operation } = hop;
    const timeouts = { headersMs: hop.headersTimeoutMs ?? this.headersTimeoutMs, bodyMs: this.bodyTimeoutMs };
    const id = ++this.exchanges;
    const started = performance.now();
    this.report(() => ({ kind: 'request', id, method, url: redactUrl(url), headers: redactHeaders(headers) }));
    try {
      const lostFor = (answerHeaders: HttpHeaders) => {
        const length = headerValue(answerHeaders, 'content-length');
        const total = length !== undefined && /^[0-9]+$/.test(length) ? ` of ${length}` : '';
        return (error: unknown, received: number): StowageError => {
          if (signal?.aborted === true || error instanceof StowageError) return transportErrorWith(error, url.host, operation, signal, timeouts);
          return new StowageError('NETWORK', `${operation}: connection lost after ${received}${total} bytes: ${networkReason(error, timeouts)}`, { cause: error });
        };
      };
      const handler = new AnswerHandler(signal, body, lostFor);
      const options: Dispatcher.DispatchOptions = {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        body: body ?? null,
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyMs,
        // undici closes the connection after every HEAD (in case a server sends a body anyway), so a push
        // that HEADs each blob opened a new connection (and on https, a TLS handshake) per blob. Registries
        // answer HEAD without a body (docker-registry, and Go's and nginx's servers always do): keep it.
        ...(method === 'HEAD' ? { reset: false } : {}),
      };
      try {
        (this.dispatcher ?? getGlobalDispatcher()).dispatch(options, handler);
      } catch (error) {
        handler.dispatchFailed(error);
      }
      const answer = await handler.answer;
      const response: HttpResponse = { status: answer.statusCode, headers: answer.headers, body: answer.body, url, operation };
      if (signal !== undefined) response.signal = signal;
      const durationMs = Math.round(performance.now() - started);
      this.report(() => ({ kind: 'response', id, method, url: redactUrl(url), status: answer.statusCode, headers: redactHeaders(answer.headers), durationMs }));
      return response;
    } catch (error) {
      const durationMs = Math.round(performance.now() - started);
      this.report(() => ({ kind: 'error', id, method, url: redactUrl(url), message: describeError(error), durationMs }));
      // A body stream that failed (a verifying stream, a file read error) is the real cause.
      if (body instanceof Readable && body.errored !== null && body.errored instanceof StowageError) throw body.errored;
      throw transportErrorWith(error, url.host, operation, signal, timeouts);
    }
  }

  private reportRetry(hop: Hop, event: Omit<HttpRetryEvent, 'method' | 'url' | 'operation'>): void {
    if (this.onRetry === undefined) return;
    try {
      this.onRetry({ method: hop.method, url: redactUrl(hop.url), operation: hop.operation, ...event });
    } catch {
      // A failing listener is the listener's problem.
    }
  }

  // Debug output must never break a request: the event is built only when someone listens.
  private report(event: () => HttpExchangeEvent): void {
    if (this.onExchange === undefined) return;
    try {
      this.onExchange(event());
    } catch {
      // A failing listener is the listener's problem.
    }
  }
}

/** Reads and discards a response body (up to 128 KiB; more closes the connection), ignoring errors. */
export async function discardBody(response: HttpResponse): Promise<void> {
  try {
    await response.body.dump();
  } catch {
    // Nothing to salvage from a body nobody wants.
  }
}

/** Stops reading a response body and closes its connection (undici reports that as an error: ignored here). */
export function abandonBody(response: HttpResponse): void {
  response.body.on('error', () => {
    // Abandoned on purpose: the "Request aborted" that follows is expected.
  });
  response.body.destroy();
}

/**
 * Reads a response body into memory, failing as soon as it is larger than `limit` (checked against
 * `Content-Length` first). `what` names the operation and reference in messages.
 * @throws StowageError `TOO_LARGE`, `NETWORK` (connection lost mid-body), `ABORTED`.
 */
export async function readBody(response: HttpResponse, limit: number, what: string): Promise<Uint8Array> {
  const declared = Number(headerValue(response.headers, 'content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    abandonBody(response);
    throw new StowageError('TOO_LARGE', `${what}: ${declared} bytes is over the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      if (!(chunk instanceof Uint8Array)) continue;
      total += chunk.byteLength;
      if (total > limit) {
        abandonBody(response);
        throw new StowageError('TOO_LARGE', `${what}: larger than the ${limit}-byte limit`);
      }
      chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
  } catch (error) {
    throw transportError(error, response.url.host, what, response.signal);
  }
  return Buffer.concat(chunks, total);
}

/** Reads at most `limit` bytes of a body, discarding the rest, never failing (for error answers). */
async function readSome(response: HttpResponse, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      if (!(chunk instanceof Uint8Array)) continue;
      const room = limit - total;
      chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(room, chunk.byteLength)));
      total += Math.min(room, chunk.byteLength);
      if (total >= limit) {
        abandonBody(response);
        break;
      }
    }
  } catch {
    // Keep what arrived: the status alone still makes an error.
  }
  return Buffer.concat(chunks, total);
}

// For answers without a body (HEAD), so the message still says something.
const statusPhrases: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'DENIED';
    case 404:
      return 'NOT_FOUND';
    case 405:
    case 501:
      return 'UNSUPPORTED';
    case 413:
      return 'TOO_LARGE';
    default:
      return 'REGISTRY_ERROR';
  }
}

/** What the registry said, from its JSON error body (distribution spec "Error Codes"), or its plain text. */
/** The distribution error codes in an error body (`{"errors":[{"code":...}]}`), if it is one. */
function errorCodesOf(bytes: Uint8Array): string[] {
  if (bytes.byteLength === 0) return [];
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8').decode(bytes));
  } catch {
    return [];
  }
  const parsed = errorBodySchema.safeParse(json);
  return parsed.success ? parsed.data.errors.map((entry) => entry.code).filter((code): code is string => typeof code === 'string' && code !== '') : [];
}

function describeErrorBody(bytes: Uint8Array, contentType: string | undefined): string | undefined {
  if (bytes.byteLength === 0) return undefined;
  const text = new TextDecoder('utf-8').decode(bytes);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = errorBodySchema.safeParse(json);
  if (parsed.success && parsed.data.errors.length > 0) {
    return parsed.data.errors.map((entry) => (entry.message !== undefined && entry.message !== '' ? entry.message : entry.code)).join('; ');
  }
  if (contentType?.startsWith('text/plain') === true) {
    // One line of plain text ("404 page not found"), without control characters.
    const line = (text.split('\n')[0] ?? '').replace(/[^\x20-\x7e]/g, '').trim().slice(0, 200);
    return line === '' ? undefined : line;
  }
  return undefined;
}

/** The scope a 401 `Bearer error="insufficient_scope"` challenge names ('' when none), or undefined. */
function insufficientScope(headers: HttpHeaders): string | undefined {
  const bearer = parseChallenges(headers['www-authenticate']).find((challenge) => challenge.scheme === 'bearer');
  if (bearer?.params.error !== 'insufficient_scope') return undefined;
  return bearer.params.scope ?? '';
}

/**
 * Turns an unexpected answer into a StowageError, reading the registry's JSON error body (bounded). The
 * message is `<operation>: <registry's message or HTTP status>`. Codes: 401 `UNAUTHORIZED`, 403 `DENIED`,
 * 404 `NOT_FOUND`, 405 and 501 `UNSUPPORTED`, 413 `TOO_LARGE`, anything else `REGISTRY_ERROR`; a 401 with
 * a Bearer `insufficient_scope` challenge is `DENIED`. After retries the message ends `(after N attempts)`;
 * a 429 or 503 with `Retry-After` says the wait the registry asked for.
 */
export async function registryError(response: HttpResponse, operation: string): Promise<StowageError> {
  const body = await readSome(response, maxErrorBodyBytes);
  const said = describeErrorBody(body, headerValue(response.headers, 'content-type'));
  const registryCodes = errorCodesOf(body);
  const insufficient = response.status === 401 ? insufficientScope(response.headers) : undefined;
  if (insufficient !== undefined) {
    // The credentials were fine but the token lacks a scope (the auth handler already asked for it once).
    const needs = insufficient === '' ? '' : ` the token lacks ${insufficient};`;
    return new StowageError('DENIED', `${operation}: access denied (insufficient_scope):${needs} check that your account may do this`);
  }
  const code = codeForStatus(response.status);
  const phrase = statusPhrases[response.status];
  // HEAD answers have no body: say what the status means in words, then the number. A registry's own words
  // ("manifest unknown") get the status beside them, so that a 404 always says "not found".
  const status = phrase === undefined ? `HTTP ${response.status}` : `HTTP ${response.status} ${phrase}`;
  let detail = said === undefined ? (phrase === undefined ? status : `${phrase.toLowerCase()} (HTTP ${response.status})`) : said;
  if (said !== undefined && (phrase === undefined || !said.toLowerCase().includes(phrase.toLowerCase()))) {
    detail += code === 'UNAUTHORIZED' ? ` (${status}; credentials are missing or wrong)` : ` (${status})`;
  } else if (code === 'UNAUTHORIZED') {
    detail += ' (credentials are missing or wrong)';
  }
  if (code === 'UNSUPPORTED' && said === undefined) detail += ' (the registry does not support this operation)';
  const retryAfterMs = response.status === 429 || response.status === 503 ? parseRetryAfter(headerValue(response.headers, 'retry-after')) : undefined;
  if (retryAfterMs !== undefined) detail += `; the registry asks to retry after ${duration(retryAfterMs)}`;
  // Only an answer that was itself worth retrying ends a run of retries; a 404 after a 503 is just a 404.
  if (response.attempts !== undefined && response.attempts > 1 && isRetryableStatus(response.status)) detail += ` (after ${response.attempts} attempts)`;
  return new StowageError(code, `${operation}: ${detail}`, { registryCodes });
}
