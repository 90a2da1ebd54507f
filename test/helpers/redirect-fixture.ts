/**
 * A test fixture, not a registry: two in-process HTTP servers on 127.0.0.1 (two origins). The "registry"
 * origin wants Basic credentials for everything and answers blob GETs with redirects; the "storage" origin
 * (a stand-in for a CDN or S3) serves the bytes. Both record the requests they get, headers included.
 *
 * Blob routes on the registry origin, for a blob added with {@link RedirectFixture.addBlob}:
 * - `/v2/cross/blobs/<digest>`: 307 to the storage origin.
 * - `/v2/same/blobs/<digest>`: 307 to `/internal/<digest>` on the registry origin (needs credentials).
 * - `/v2/bounce/blobs/<digest>`: 307 to the storage origin, which 307s back to `/internal/<digest>`.
 * - `/v2/loop/blobs/<digest>`: 302 to itself, forever.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface RedirectFixture {
  /** `127.0.0.1:PORT` of the registry origin, as in a reference. */
  registryHost: string;
  /** `127.0.0.1:PORT` of the storage origin. */
  storageHost: string;
  registryRequests: RecordedRequest[];
  storageRequests: RecordedRequest[];
  /** Serves `bytes` for `digest`; the storage origin serves `served` instead when given (a corrupt copy). */
  addBlob(digest: string, bytes: Uint8Array, served?: Uint8Array): void;
  stop(): Promise<void>;
}

export interface RedirectFixtureOptions {
  username: string;
  password: string;
}

function record(list: RecordedRequest[], req: IncomingMessage): void {
  list.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('redirect fixture: no address');
  return `127.0.0.1:${address.port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }));
}

/** Starts both origins. */
export async function startRedirectFixture(options: RedirectFixtureOptions): Promise<RedirectFixture> {
  const blobs = new Map<string, { bytes: Uint8Array; served: Uint8Array }>();
  const registryRequests: RecordedRequest[] = [];
  const storageRequests: RecordedRequest[] = [];
  const expectedAuthorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  let registryHost = '';
  let storageHost = '';

  const registry = createServer((req, res) => {
    record(registryRequests, req);
    if (req.headers.authorization !== expectedAuthorization) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="redirect-fixture"' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const url = new URL(req.url ?? '/', `http://${registryHost}`);
    const internal = /^\/internal\/(.+)$/.exec(url.pathname);
    if (internal?.[1] !== undefined) {
      const blob = blobs.get(internal[1]);
      if (blob === undefined) {
        notFound(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(blob.bytes.byteLength) });
      res.end(blob.bytes);
      return;
    }
    const match = /^\/v2\/(cross|same|bounce|loop)\/blobs\/(.+)$/.exec(url.pathname);
    const route = match?.[1];
    const digest = match?.[2];
    if (route === undefined || digest === undefined || !blobs.has(digest)) {
      notFound(res);
      return;
    }
    const location = {
      cross: `http://${storageHost}/storage/${digest}?signature=fixture`,
      same: `/internal/${digest}`,
      bounce: `http://${storageHost}/bounce/${digest}`,
      loop: url.pathname,
    }[route as 'cross' | 'same' | 'bounce' | 'loop'];
    res.writeHead(route === 'loop' ? 302 : 307, { location });
    res.end();
  });

  const storage = createServer((req, res) => {
    record(storageRequests, req);
    const url = new URL(req.url ?? '/', `http://${storageHost}`);
    const bounce = /^\/bounce\/(.+)$/.exec(url.pathname);
    if (bounce?.[1] !== undefined) {
      res.writeHead(307, { location: `http://${registryHost}/internal/${bounce[1]}` });
      res.end();
      return;
    }
    const match = /^\/storage\/(.+)$/.exec(url.pathname);
    const blob = match?.[1] === undefined ? undefined : blobs.get(match[1]);
    if (blob === undefined) {
      notFound(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(blob.served.byteLength) });
    res.end(blob.served);
  });

  registryHost = await listen(registry);
  storageHost = await listen(storage);
  return {
    registryHost,
    storageHost,
    registryRequests,
    storageRequests,
    addBlob(digest, bytes, served = bytes) {
      blobs.set(digest, { bytes, served });
    },
    async stop() {
      await Promise.all([close(registry), close(storage)]);
    },
  };
}
