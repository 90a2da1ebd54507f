/**
 * A FIXTURE, not a registry: an in-process HTTP server that speaks just enough of the distribution API to
 * test the referrers API path, which the real docker-registry 2.8 does not have. It stores manifests in
 * memory (blobs are not checked), answers `GET /v2/<name>/referrers/<digest>` with OCI indexes, pages them
 * with `Link`, applies the `artifactType` filter (and says so with `OCI-Filters-Applied`) or not, and answers
 * manifest PUTs that carry a `subject` with `OCI-Subject`. Every request is recorded.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReferrersApiFixtureOptions {
  /** Serve the referrers API at all; false answers 404 `text/plain` as docker-registry does. Default true. */
  referrersApi?: boolean;
  /** Referrers per page. Default 100. */
  pageSize?: number;
  /** Apply `?artifactType=` and say so with `OCI-Filters-Applied: artifactType`. Default true. */
  filtersApplied?: boolean;
  /** Answer a manifest PUT with a subject with `OCI-Subject`. Default true. */
  ociSubject?: boolean;
  /** Serve referrers with this Content-Type instead of the OCI index type. */
  referrersContentType?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
}

interface StoredManifest {
  mediaType: string;
  bytes: Buffer;
}

export interface ReferrersApiFixture {
  /** `127.0.0.1:PORT`, as in a reference. */
  host: string;
  /** Mutable: tests change the behaviour between requests. */
  options: Required<Omit<ReferrersApiFixtureOptions, 'referrersContentType'>> & { referrersContentType?: string };
  requests: RecordedRequest[];
  /** Manifests by `<name>@<digest>`. */
  manifests: Map<string, StoredManifest>;
  /** Tags by `<name>:<tag>` -> digest. */
  tags: Map<string, string>;
  stop(): Promise<void>;
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function readRequest(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body?: Buffer | string): void {
  response.writeHead(status, headers);
  response.end(body);
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}

/** Starts the fixture on a free 127.0.0.1 port. */
export async function startReferrersApiFixture(options: ReferrersApiFixtureOptions = {}): Promise<ReferrersApiFixture> {
  const state: ReferrersApiFixture['options'] = {
    referrersApi: options.referrersApi ?? true,
    pageSize: options.pageSize ?? 100,
    filtersApplied: options.filtersApplied ?? true,
    ociSubject: options.ociSubject ?? true,
    ...(options.referrersContentType === undefined ? {} : { referrersContentType: options.referrersContentType }),
  };
  const requests: RecordedRequest[] = [];
  const manifests = new Map<string, StoredManifest>();
  const tags = new Map<string, string>();
  const names = new Set<string>();

  const lookup = (name: string, reference: string): { digest: string; manifest: StoredManifest } | undefined => {
    const digest = reference.includes(':') ? reference : tags.get(`${name}:${reference}`);
    if (digest === undefined) return undefined;
    const manifest = manifests.get(`${name}@${digest}`);
    return manifest === undefined ? undefined : { digest, manifest };
  };

  const referrersOf = (name: string, subject: string): Record<string, unknown>[] => {
    const out: Record<string, unknown>[] = [];
    for (const [key, manifest] of manifests) {
      if (!key.startsWith(`${name}@`)) continue;
      const parsed = JSON.parse(manifest.bytes.toString('utf8')) as {
        subject?: { digest: string };
        artifactType?: string;
        config?: { mediaType: string };
        annotations?: Record<string, string>;
      };
      if (parsed.subject?.digest !== subject) continue;
      out.push({
        mediaType: manifest.mediaType,
        digest: key.slice(name.length + 1),
        size: manifest.bytes.byteLength,
        ...(parsed.annotations === undefined ? {} : { annotations: parsed.annotations }),
        artifactType: parsed.artifactType ?? parsed.config?.mediaType,
      });
    }
    return out.sort((a, b) => String(a.digest).localeCompare(String(b.digest)));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://fixture');
    const method = request.method ?? 'GET';
    requests.push({ method, url: `${url.pathname}${url.search}` });
    const body = await readRequest(request);
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      send(response, 200, { 'content-type': 'application/json' }, '{}');
      return;
    }
    const match = /^\/v2\/(.+)\/(manifests|referrers|tags)\/(.+)$/.exec(url.pathname);
    if (match === null) {
      send(response, 404, { 'content-type': 'text/plain' }, '404 page not found');
      return;
    }
    const [, name = '', kind = '', reference = ''] = match;
    if (kind === 'referrers') {
      if (!state.referrersApi) {
        send(response, 404, { 'content-type': 'text/plain' }, '404 page not found');
        return;
      }
      if (!names.has(name)) {
        send(response, 404, { 'content-type': 'application/json' }, errorBody('NAME_UNKNOWN', 'repository name not known to registry'));
        return;
      }
      const artifactType = url.searchParams.get('artifactType');
      let entries = referrersOf(name, reference);
      const headers: Record<string, string> = { 'content-type': state.referrersContentType ?? 'application/vnd.oci.image.index.v1+json' };
      if (artifactType !== null && state.filtersApplied) {
        entries = entries.filter((entry) => entry.artifactType === artifactType);
        headers['oci-filters-applied'] = 'artifactType';
      }
      const page = Number(url.searchParams.get('page') ?? '0');
      const slice = entries.slice(page * state.pageSize, (page + 1) * state.pageSize);
      if ((page + 1) * state.pageSize < entries.length) {
        const next = new URLSearchParams(url.searchParams);
        next.set('page', String(page + 1));
        headers.link = `</v2/${name}/referrers/${reference}?${next.toString()}>; rel="next"`;
      }
      send(response, 200, headers, JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: slice }));
      return;
    }
    if (kind === 'tags') {
      const list = [...tags.keys()].filter((key) => key.startsWith(`${name}:`)).map((key) => key.slice(name.length + 1));
      send(response, 200, { 'content-type': 'application/json' }, JSON.stringify({ name, tags: list }));
      return;
    }
    if (method === 'PUT') {
      const mediaType = request.headers['content-type'] ?? '';
      const digest = digestOf(body);
      names.add(name);
      manifests.set(`${name}@${digest}`, { mediaType, bytes: body });
      if (!reference.includes(':')) tags.set(`${name}:${reference}`, digest);
      const headers: Record<string, string> = { 'docker-content-digest': digest, location: `/v2/${name}/manifests/${digest}` };
      const subject = (JSON.parse(body.toString('utf8')) as { subject?: { digest: string } }).subject;
      if (subject !== undefined && state.ociSubject) headers['oci-subject'] = subject.digest;
      send(response, 201, headers);
      return;
    }
    if (method === 'DELETE') {
      const found = lookup(name, reference);
      if (found === undefined) {
        send(response, 404, { 'content-type': 'application/json' }, errorBody('MANIFEST_UNKNOWN', 'manifest unknown'));
        return;
      }
      manifests.delete(`${name}@${found.digest}`);
      for (const [key, digest] of tags) if (digest === found.digest && key.startsWith(`${name}:`)) tags.delete(key);
      send(response, 202, {});
      return;
    }
    const found = lookup(name, reference);
    if (found === undefined) {
      send(response, 404, { 'content-type': 'application/json' }, method === 'HEAD' ? undefined : errorBody('MANIFEST_UNKNOWN', 'manifest unknown'));
      return;
    }
    const headers = {
      'content-type': found.manifest.mediaType,
      'docker-content-digest': found.digest,
      'content-length': String(found.manifest.bytes.byteLength),
    };
    send(response, 200, headers, method === 'HEAD' ? undefined : found.manifest.bytes);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      send(response, 500, { 'content-type': 'text/plain' }, String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    options: state,
    requests,
    manifests,
    tags,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
