/**
 * registryError: the code comes from the status, the words from the registry's error body when it has one,
 * with the status beside them, so that a 404 always reads "not found" and a 401 says what to check.
 */
import { describe, expect, it } from 'vitest';
import { registryError, type HttpResponse } from '../../src/registry/http.js';
import { ResponseBody } from '../../src/registry/response-body.js';

function answer(status: number, body: string, contentType = 'application/json'): HttpResponse {
  const bytes = new TextEncoder().encode(body);
  return {
    status,
    headers: body === '' ? {} : { 'content-type': contentType, 'content-length': String(bytes.byteLength) },
    body: ResponseBody.of(bytes),
    url: new URL('http://r/v2/app/manifests/v1'),
    operation: 'fetch manifest r/app:v1',
  };
}

const errors = (code: string, message: string): string => JSON.stringify({ errors: [{ code, message }] });

describe('registryError', () => {
  it("puts the status beside the registry's words, and words for the status when there are none", async () => {
    const unknown = await registryError(answer(404, errors('MANIFEST_UNKNOWN', 'manifest unknown')), 'fetch manifest r/app:v1');
    expect(unknown.code).toBe('NOT_FOUND');
    expect(unknown.message).toBe('fetch manifest r/app:v1: manifest unknown (HTTP 404 Not Found)');
    expect(unknown.registryCodes).toEqual(['MANIFEST_UNKNOWN']);
    const head = await registryError(answer(404, ''), 'resolve r/app:v1');
    expect(head.message).toBe('resolve r/app:v1: not found (HTTP 404)');
    const unauthorized = await registryError(answer(401, errors('UNAUTHORIZED', 'authentication required')), 'fetch manifest r/app:v1');
    expect(unauthorized.code).toBe('UNAUTHORIZED');
    expect(unauthorized.message).toBe('fetch manifest r/app:v1: authentication required (HTTP 401 Unauthorized; credentials are missing or wrong)');
  });

  it('adds nothing when the words already say it', async () => {
    const plain = await registryError(answer(404, '404 page not found', 'text/plain'), 'fetch blob r/app@sha256:x');
    expect(plain.message).toBe('fetch blob r/app@sha256:x: 404 page not found');
  });
});
