/**
 * The seam between the HTTP client and authentication. `HttpClient` asks its handler for an
 * `Authorization` value before each same-origin request, and hands it the challenges of a 401 to decide
 * whether one retry with new credentials may succeed. Basic auth is {@link BasicAuthHandler}; Bearer
 * tokens plug in here as another handler (scopes are already carried in {@link AuthContext}).
 */
import type { Challenge } from './challenge.js';

/** A username and password (or identity token) for one registry host. */
export interface Credentials {
  username: string;
  password: string;
}

/**
 * Looks up credentials for a registry host, as in a request URL (`host[:port]`; Docker Hub's API host is
 * `registry-1.docker.io`). Returns `undefined` for anonymous access.
 */
export type CredentialsProvider = (host: string) => Credentials | undefined | Promise<Credentials | undefined>;

/** What an {@link AuthHandler} knows about the request it authorises. */
export interface AuthContext {
  /** The request URL (always on the origin the request started on: handlers never see cross-origin hops). */
  url: URL;
  /** `host[:port]` of `url`. */
  host: string;
  method: string;
  /**
   * Token scopes the operation needs, e.g. `repository:team/app:pull,push` or `registry:catalog:*`.
   * Basic auth ignores them; Bearer auth asks the token server for them.
   */
  scopes: readonly string[];
  signal?: AbortSignal;
}

/** Supplies `Authorization` headers and answers 401 challenges. */
export interface AuthHandler {
  /** The `Authorization` value to send up front, or `undefined` to send none. */
  authorization(context: AuthContext): Promise<string | undefined>;
  /**
   * Called once per request on a 401. Returns true when the handler has new credentials worth one retry
   * (the client then calls {@link authorization} again); false to give the 401 to the caller.
   * `sent` is the `Authorization` value the failed request carried.
   */
  challenge(context: AuthContext, challenges: readonly Challenge[], sent: string | undefined): Promise<boolean>;
}
