/** RemoteRegistry: the registry-wide endpoints (`/v2/`, `/v2/_catalog`) and a factory for its repositories. */
import type { OperationOptions } from '../content/store.js';
import { StowageError } from '../errors.js';
import { catalogSchema } from '../oci/schemas.js';
import type { CredentialsProvider } from './auth/handler.js';
import { discardBody, registryError, type HttpClient } from './http.js';
import { listPages } from './paging.js';
import { clientFromOptions, registryBaseUrl, RemoteRepository } from './repository.js';

/** Options of {@link RemoteRegistry}. */
export interface RemoteRegistryOptions {
  /** The registry as in a reference: `localhost:5000`, `[::1]:5000`, `ghcr.io`, `docker.io`. */
  registry: string;
  /** Talk plain HTTP instead of HTTPS. Default: true for loopback registries (`localhost`, `127.x`, `[::1]`). */
  plainHttp?: boolean;
  /** The HTTP client its repositories share. Default: a new one with `credentials`. */
  client?: HttpClient;
  /** Credentials per host, for a new client. Not allowed together with `client`. */
  credentials?: CredentialsProvider;
}

/** Options of {@link RemoteRegistry.catalog}. */
export interface CatalogOptions extends OperationOptions {
  /** Only repositories after this one (distribution spec `last`). */
  last?: string;
  /** Page size to ask for (`n`); the registry may send fewer and pages on with `Link`. */
  n?: number;
}

/** The answer to {@link RemoteRegistry.ping}. */
export interface PingResult {
  /** True on 200 (anonymous access, or credentials accepted); false on 401 (credentials missing or refused). */
  authorized: boolean;
}

/**
 * A registry: ping, catalog, and {@link RemoteRepository} instances that share one HTTP client (connections
 * and the auth cache).
 */
export class RemoteRegistry {
  /** The registry as given. */
  readonly registry: string;
  /** The HTTP client shared by its repositories. */
  readonly client: HttpClient;
  /** The API base URL, `http(s)://host[:port]/`. */
  readonly baseUrl: URL;
  private readonly plainHttp: boolean;

  /**
   * @throws StowageError `INVALID_REFERENCE` (a malformed registry), `INVALID_ARGUMENT` (both `client` and
   *   `credentials`).
   */
  constructor(options: RemoteRegistryOptions) {
    this.registry = options.registry;
    this.baseUrl = registryBaseUrl(options.registry, options.plainHttp);
    this.plainHttp = this.baseUrl.protocol === 'http:';
    this.client = clientFromOptions(options, options.registry);
  }

  /**
   * Checks that an OCI registry answers at `/v2/` (200, or 401 when it wants credentials it has not got).
   * @throws StowageError `NETWORK`, `ABORTED`, `DENIED`, `NOT_FOUND` (no registry API there), `REGISTRY_ERROR`.
   */
  async ping(options: OperationOptions = {}): Promise<PingResult> {
    const operation = `ping ${this.registry}`;
    const response = await this.client.send({
      method: 'GET',
      url: new URL('/v2/', this.baseUrl),
      operation,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (response.status === 200 || response.status === 401) {
      await discardBody(response);
      return { authorized: response.status === 200 };
    }
    throw await registryError(response, operation);
  }

  /**
   * Lists the registry's repositories page by page (`GET /v2/_catalog?n=&last=`, following `Link`).
   * @throws StowageError `UNSUPPORTED` or `NOT_FOUND` (no catalog API), `UNAUTHORIZED`, `DENIED`,
   *   `TOO_LARGE`, `INVALID_MANIFEST` (a page that is not a catalog), `INVALID_ARGUMENT` (a bad `n`),
   *   `NETWORK`, `ABORTED`, `REGISTRY_ERROR`.
   */
  catalog(options: CatalogOptions = {}): AsyncIterable<string[]> {
    const url = new URL('/v2/_catalog', this.baseUrl);
    if (options.n !== undefined) {
      if (!Number.isSafeInteger(options.n) || options.n < 1) {
        throw new StowageError('INVALID_ARGUMENT', `list repositories of ${this.registry}: page size must be a positive integer`);
      }
      url.searchParams.set('n', String(options.n));
    }
    if (options.last !== undefined) url.searchParams.set('last', options.last);
    return listPages({
      client: this.client,
      url,
      operation: `list repositories of ${this.registry}`,
      scopes: ['registry:catalog:*'],
      schema: catalogSchema,
      entries: (page) => page.repositories ?? [],
      signal: options.signal,
    });
  }

  /**
   * The repository `name` of this registry, sharing this registry's client.
   * @throws StowageError `INVALID_REFERENCE`.
   */
  repository(name: string): RemoteRepository {
    return new RemoteRepository({ registry: this.registry, repository: name, plainHttp: this.plainHttp, client: this.client });
  }
}
