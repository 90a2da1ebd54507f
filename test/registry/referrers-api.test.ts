/**
 * The referrers API path of RemoteRepository, against the in-process referrers-API fixture (docker-registry
 * 2.8 has no referrers API): paging with Link, OCI-Filters-Applied present and absent, an empty answer,
 * OCI-Subject on push, the capability remembered, NAME_UNKNOWN, and the --distribution-spec modes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RemoteRepository } from '../../src/registry/repository.js';
import { MediaType, emptyDescriptor } from '../../src/oci/media-types.js';
import { fallbackTag } from '../../src/oci/referrers.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { startReferrersApiFixture, type ReferrersApiFixture } from '../helpers/referrers-api-fixture.js';
import { expectCode, imageManifest, randomBlob, type Blob } from '../helpers/store-contract.js';

let fixture: ReferrersApiFixture;
let counter = 0;

beforeAll(async () => {
  fixture = await startReferrersApiFixture();
});
afterAll(async () => {
  await fixture.stop();
});
afterEach(() => {
  fixture.options.referrersApi = true;
  fixture.options.pageSize = 100;
  fixture.options.filtersApplied = true;
  fixture.options.ociSubject = true;
  delete fixture.options.referrersContentType;
});

function repository(mode?: 'auto' | 'api' | 'tag'): RemoteRepository {
  counter++;
  return new RemoteRepository({
    registry: fixture.host,
    repository: `api-${counter}`,
    ...(mode === undefined ? {} : { referrers: mode }),
    referrersUpdate: { settleMs: 20 },
  });
}

/** A referrer manifest of `artifactType` whose subject is `subject`. */
function referrer(subject: Descriptor, artifactType: string, annotations: Record<string, string> = {}): Blob {
  return imageManifest({ ...emptyDescriptor }, [randomBlob(16).desc], {
    artifactType,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  });
}

async function subjectIn(repo: RemoteRepository): Promise<Descriptor> {
  const subject = imageManifest({ ...emptyDescriptor }, [randomBlob(32).desc]);
  await repo.pushReference(subject.desc, subject.bytes, 'v1');
  return subject.desc;
}

async function collect(pages: AsyncIterable<Descriptor[]>): Promise<{ pages: number; entries: Descriptor[] }> {
  let count = 0;
  const entries: Descriptor[] = [];
  for await (const page of pages) {
    count++;
    entries.push(...page);
  }
  return { pages: count, entries };
}

function requestsSince(start: number, pattern: RegExp): string[] {
  return fixture.requests.slice(start).map((request) => `${request.method} ${request.url}`).filter((line) => pattern.test(line));
}

describe('referrers API (fixture)', () => {
  it('pushes a referrer without touching a fallback tag when the registry answers OCI-Subject', async () => {
    const repo = repository();
    const subject = await subjectIn(repo);
    const start = fixture.requests.length;
    const sbom = referrer(subject, 'application/vnd.example.sbom', { team: 'infra' });
    await repo.push(sbom.desc, sbom.bytes);
    expect(repo.referrersApiSupported).toBe(true);
    expect(requestsSince(start, new RegExp(fallbackTag(subject.digest)))).toEqual([]);
    expect(repo.lastReferrersUpdate).toBeUndefined();

    const listed = await collect(repo.referrers(subject));
    expect(listed.entries).toEqual([
      { mediaType: MediaType.ociManifest, digest: sbom.desc.digest, size: sbom.desc.size, annotations: { team: 'infra' }, artifactType: 'application/vnd.example.sbom' },
    ]);
  });

  it('follows Link pages to the end', async () => {
    fixture.options.pageSize = 2;
    const repo = repository();
    const subject = await subjectIn(repo);
    const pushed: string[] = [];
    for (let index = 0; index < 5; index++) {
      const item = referrer(subject, 'application/vnd.example.sig');
      await repo.push(item.desc, item.bytes);
      pushed.push(item.desc.digest);
    }
    const start = fixture.requests.length;
    const listed = await collect(repo.referrers(subject));
    expect(listed.pages).toBe(3);
    expect(listed.entries.map((entry) => entry.digest).sort()).toEqual(pushed.sort());
    expect(requestsSince(start, /referrers/)).toHaveLength(3);
    expect(requestsSince(start, /page=2/)).toHaveLength(1);
  });

  it('takes the filtered answer as is when OCI-Filters-Applied says so, and filters itself when not', async () => {
    const repo = repository();
    const subject = await subjectIn(repo);
    const sbom = referrer(subject, 'application/vnd.example.sbom');
    const sig = referrer(subject, 'application/vnd.example.sig');
    await repo.push(sbom.desc, sbom.bytes);
    await repo.push(sig.desc, sig.bytes);

    let start = fixture.requests.length;
    fixture.options.filtersApplied = true;
    const filtered = await collect(repo.referrers(subject, { artifactType: 'application/vnd.example.sig' }));
    expect(filtered.entries.map((entry) => entry.digest)).toEqual([sig.desc.digest]);
    expect(requestsSince(start, /referrers/)[0]).toContain('artifactType=application%2Fvnd.example.sig');

    start = fixture.requests.length;
    fixture.options.filtersApplied = false;
    const unfiltered = await collect(repo.referrers(subject, { artifactType: 'application/vnd.example.sig' }));
    expect(unfiltered.entries.map((entry) => entry.digest)).toEqual([sig.desc.digest]);
    expect(requestsSince(start, /referrers/)[0]).toContain('artifactType=');
  });

  it('lists nothing for a subject without referrers, and does not read the fallback tag', async () => {
    const repo = repository();
    const subject = await subjectIn(repo);
    const start = fixture.requests.length;
    const listed = await collect(repo.referrers(subject));
    expect(listed.entries).toEqual([]);
    expect(repo.referrersApiSupported).toBe(true);
    expect(requestsSince(start, /manifests\//)).toEqual([]);
  });

  it('says NOT_FOUND for a repository the registry does not know (404 NAME_UNKNOWN)', async () => {
    const repo = repository();
    const missing = randomBlob(8, MediaType.ociManifest).desc;
    await expectCode(collect(repo.referrers(missing)), 'NOT_FOUND');
  });

  it('falls back to the tag schema when the registry has no API, and remembers it', async () => {
    fixture.options.referrersApi = false;
    fixture.options.ociSubject = false;
    const repo = repository();
    const subject = await subjectIn(repo);
    const sbom = referrer(subject, 'application/vnd.example.sbom');
    await repo.push(sbom.desc, sbom.bytes);
    expect(repo.lastReferrersUpdate?.writes).toBe(1);
    expect(fixture.tags.has(`${repo.repository}:${fallbackTag(subject.digest)}`)).toBe(true);

    let start = fixture.requests.length;
    expect((await collect(repo.referrers(subject))).entries.map((entry) => entry.digest)).toEqual([sbom.desc.digest]);
    expect(requestsSince(start, /referrers\//)).toHaveLength(1);
    expect(repo.referrersApiSupported).toBe(false);
    start = fixture.requests.length;
    expect((await collect(repo.referrers(subject))).entries).toHaveLength(1);
    // Remembered: the second listing goes straight to the tag.
    expect(requestsSince(start, /referrers\//)).toEqual([]);
  });

  it('does not count a 200 that is not an OCI index as support', async () => {
    fixture.options.referrersContentType = 'text/html';
    fixture.options.ociSubject = false;
    const repo = repository();
    const subject = await subjectIn(repo);
    const sbom = referrer(subject, 'application/vnd.example.sbom');
    await repo.push(sbom.desc, sbom.bytes);
    expect((await collect(repo.referrers(subject))).entries.map((entry) => entry.digest)).toEqual([sbom.desc.digest]);
    expect(repo.referrersApiSupported).toBe(false);
  });

  it('with mode api, fails UNSUPPORTED on a registry without the API and writes no fallback index', async () => {
    fixture.options.referrersApi = false;
    fixture.options.ociSubject = false;
    const repo = repository('api');
    const subject = await subjectIn(repo);
    const sbom = referrer(subject, 'application/vnd.example.sbom');
    await repo.push(sbom.desc, sbom.bytes);
    expect(fixture.tags.has(`${repo.repository}:${fallbackTag(subject.digest)}`)).toBe(false);
    await expectCode(collect(repo.referrers(subject)), 'UNSUPPORTED');
  });

  it('with mode tag, keeps the fallback index even when the registry answers OCI-Subject, and never calls the API', async () => {
    const repo = repository('tag');
    const subject = await subjectIn(repo);
    const start = fixture.requests.length;
    const sbom = referrer(subject, 'application/vnd.example.sbom');
    await repo.push(sbom.desc, sbom.bytes);
    expect(fixture.tags.has(`${repo.repository}:${fallbackTag(subject.digest)}`)).toBe(true);
    expect((await collect(repo.referrers(subject))).entries.map((entry) => entry.digest)).toEqual([sbom.desc.digest]);
    expect(requestsSince(start, /referrers\//)).toEqual([]);
  });

  it('deleting a referrer on an API registry leaves the tags alone', async () => {
    const repo = repository();
    const subject = await subjectIn(repo);
    const sbom = referrer(subject, 'application/vnd.example.sbom');
    await repo.push(sbom.desc, sbom.bytes);
    const start = fixture.requests.length;
    await repo.delete(sbom.desc);
    expect(requestsSince(start, /PUT/)).toEqual([]);
    expect((await collect(repo.referrers(subject))).entries).toEqual([]);
  });
});
