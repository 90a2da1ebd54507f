import { describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { HttpClient, type HttpResponse } from '../../src/registry/http.js';
import { ResponseBody } from '../../src/registry/response-body.js';
import { uploadLocation, withDigest, type RepositoryEndpoint } from '../../src/registry/upload.js';

const digest = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

function answer(url: string, location: string | undefined): HttpResponse {
  const body = ResponseBody.of(new Uint8Array(0));
  return { status: 202, headers: location === undefined ? {} : { location }, body, url: new URL(url), operation: 'push blob' };
}

function endpoint(base: string): RepositoryEndpoint {
  return { client: new HttpClient(), base: new URL(base), name: 'app' };
}

describe('withDigest', () => {
  it('appends the digest with ? or & and keeps the rest of the URL as it is', () => {
    expect(withDigest(new URL('http://r/v2/app/blobs/uploads/u1'), digest).href).toBe(`http://r/v2/app/blobs/uploads/u1?digest=sha256%3A${digest.slice(7)}`);
    expect(withDigest(new URL('http://r/u1?_state=a%2Bb%3D%3D'), digest).href).toBe(`http://r/u1?_state=a%2Bb%3D%3D&digest=sha256%3A${digest.slice(7)}`);
    expect(withDigest(new URL('http://r/u1?'), digest).href).toBe(`http://r/u1?digest=sha256%3A${digest.slice(7)}`);
    expect(withDigest(new URL('http://r/u1?a=1&'), digest).href).toBe(`http://r/u1?a=1&digest=sha256%3A${digest.slice(7)}`);
  });
});

describe('uploadLocation', () => {
  it('resolves a relative Location against the request URL', () => {
    const url = uploadLocation(endpoint('http://r:5000/'), answer('http://r:5000/v2/app/blobs/uploads/', '/v2/app/blobs/uploads/u1?_state=x'), 'push blob');
    expect(url.href).toBe('http://r:5000/v2/app/blobs/uploads/u1?_state=x');
    const sibling = uploadLocation(endpoint('http://r:5000/'), answer('http://r:5000/v2/app/blobs/uploads/', 'u2'), 'push blob');
    expect(sibling.href).toBe('http://r:5000/v2/app/blobs/uploads/u2');
  });

  it('refuses another host, a downgrade to http, and a missing Location', () => {
    const cases: [string, string, string | undefined][] = [
      ['http://r:5000/', 'http://r:5000/v2/app/blobs/uploads/', 'http://elsewhere:5000/u1'],
      ['http://r:5000/', 'http://r:5000/v2/app/blobs/uploads/', 'http://r:5001/u1'],
      ['https://r/', 'https://r/v2/app/blobs/uploads/', 'http://r/u1'],
      ['http://r/', 'http://r/v2/app/blobs/uploads/', 'ftp://r/u1'],
      ['http://r/', 'http://r/v2/app/blobs/uploads/', undefined],
    ];
    for (const [base, url, location] of cases) {
      let caught: unknown;
      try {
        uploadLocation(endpoint(base), answer(url, location), 'push blob');
      } catch (error) {
        caught = error;
      }
      expect(isStowageError(caught, 'REGISTRY_ERROR'), location ?? '(none)').toBe(true);
    }
  });
});
