/**
 * The seam between the HTTP client and authentication. `HttpClient` asks its handler for an
 * `Authorization` value before each same-origin request, and hands it the challenges of a 401 to decide
 * whether one retry with new credentials may succeed. `RegistryAuthHandler` (the default) answers Basic and
 * Bearer challenges; `BasicAuthHandler` answers Basic only.
 */
import type { HttpRequest, HttpResponse } from '../http.js';
import type { Challenge } from './challenge.js';

/**
 * A username and password for one registry host, or an identity token (an OAuth2 refresh token, as
 * `docker login` / `oras login --identity-token` store it).
 */
export interface Credentials {
  /** `<token>` (as docker's credential helpers return it) means `password` is an identity token. */
  username: string;
  password: string;
  /**
   * An identity token (`identitytoken` in docker's config.json). When set, Bearer tokens are asked with
   * OAuth2 `grant_type=refresh_token`; `username` and `password` may then be empty.
   */
  identityToken?: string;
  /**
   * A registry token (ORAS's `registrytoken`): sent to the registry as `Bearer <token>` as it is, without
   * asking a token server.
   */
  registryToken?: string;
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
  /** Names the operation and reference, for messages (`push blob localhost:5000/app@sha256:…`). */
  operation: string;
  /**
   * Sends a request through the same client (dispatcher, TLS, proxy, redirects) without this handler:
   * for token requests, which carry their own `Authorization`.
   */
  send: (request: HttpRequest) => Promise<HttpResponse>;
}

/** Supplies `Authorization` headers and answers 401 challenges. */
export interface AuthHandler {
  /** The `Authorization` value to send up front, or `undefined` to send none. */
  authorization(context: AuthContext): Promise<string | undefined>;
  /**
   * Called once per request on a 401. Returns true when the handler has new credentials worth one retry
   * (the client then calls {@link authorization} again); false to give the 401 to the caller.
   * `sent` is the `Authorization` value the failed request carried. May throw a StowageError when the
   * challenge says why the request can never succeed (the client then discards the 401).
   */
  challenge(context: AuthContext, challenges: readonly Challenge[], sent: string | undefined): Promise<boolean>;
}
