/** What --debug may show of URLs and headers. */
import { describe, expect, it } from 'vitest';
import { redactHeaders, redactHeaderValue, redactUrl } from '../../src/registry/redact.js';

describe('redactUrl', () => {
  it('hides userinfo', () => {
    expect(redactUrl('https://alice:s3cret@registry.test:5000/v2/')).toBe('https://***@registry.test:5000/v2/');
    expect(redactUrl(new URL('http://token@127.0.0.1/v2/'))).toBe('http://***@127.0.0.1/v2/');
  });

  it('hides token-looking query values and keeps the rest, _state included', () => {
    expect(redactUrl('https://auth.test/token?service=registry&scope=repository%3Aapp%3Apull&access_token=abc&refresh_token=def'))
      .toBe('https://auth.test/token?service=registry&scope=repository%3Aapp%3Apull&access_token=***&refresh_token=***');
    expect(redactUrl('https://auth.test/token?token=abc&password=hunter2&account=alice')).toBe('https://auth.test/token?token=***&password=***&account=alice');
    expect(redactUrl('https://r.test/v2/app/blobs/uploads/uuid?_state=c2lnbmVk&digest=sha256%3Aabc')).toBe('https://r.test/v2/app/blobs/uploads/uuid?_state=c2lnbmVk&digest=sha256%3Aabc');
  });

  it('hides presigned-URL signatures (S3, GCS, Azure)', () => {
    expect(redactUrl('https://bucket.s3.test/blob?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=f00&X-Amz-Security-Token=t'))
      .toBe('https://bucket.s3.test/blob?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***');
    expect(redactUrl('https://acct.blob.test/c/b?sv=2020&sig=abc%3D&se=2030')).toBe('https://acct.blob.test/c/b?sv=2020&sig=***&se=2030');
    expect(redactUrl('https://storage.test/o?X-Goog-Signature=abc')).toBe('https://storage.test/o?X-Goog-Signature=***');
  });

  it('keeps relative URLs relative', () => {
    expect(redactUrl('/v2/app/blobs/uploads/1?_state=x&token=y')).toBe('/v2/app/blobs/uploads/1?_state=x&token=***');
  });
});

describe('redactHeaderValue and redactHeaders', () => {
  it('keeps only the scheme of Authorization and Proxy-Authorization', () => {
    expect(redactHeaderValue('Authorization', 'Basic YWxpY2U6czNjcmV0')).toBe('Basic ***');
    expect(redactHeaderValue('authorization', 'Bearer eyJhbGciOi.eyJ.sig')).toBe('Bearer ***');
    expect(redactHeaderValue('Proxy-Authorization', 'Basic cHJveHk6cHc=')).toBe('Basic ***');
    expect(redactHeaderValue('Authorization', 'justatoken')).toBe('***');
  });

  it('hides cookies and custom secret headers, keeps challenges', () => {
    expect(redactHeaderValue('Cookie', 'session=abc')).toBe('***');
    expect(redactHeaderValue('set-cookie', 'session=abc; HttpOnly')).toBe('***');
    expect(redactHeaderValue('X-Api-Key', 'k')).toBe('***');
    expect(redactHeaderValue('X-Auth-Token', 't')).toBe('***');
    expect(redactHeaderValue('X-Registry-Auth', 'e30=')).toBe('***');
    const challenge = 'Bearer realm="https://auth.test/token",service="registry",scope="repository:app:pull"';
    expect(redactHeaderValue('WWW-Authenticate', challenge)).toBe(challenge);
    expect(redactHeaderValue('Docker-Content-Digest', 'sha256:abc')).toBe('sha256:abc');
  });

  it('redacts URLs in Location and Link', () => {
    expect(redactHeaderValue('Location', 'https://s3.test/b?X-Amz-Signature=abc')).toBe('https://s3.test/b?X-Amz-Signature=***');
    expect(redactHeaderValue('Link', '</v2/_catalog?last=b&n=2&token=x>; rel="next"')).toBe('</v2/_catalog?last=b&n=2&token=***>; rel="next"');
  });

  it('redacts every header, arrays included, lowercasing names and dropping undefined', () => {
    expect(redactHeaders({ Authorization: 'Basic abc', 'set-cookie': ['a=1', 'b=2'], Accept: 'application/json', gone: undefined })).toEqual({
      authorization: 'Basic ***',
      'set-cookie': ['***', '***'],
      accept: 'application/json',
    });
  });
});
