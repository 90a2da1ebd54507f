#!/usr/bin/env node
/**
 * The least a Node.js process can do to push or pull small files, for `bench/run.js --tools ...,node-floor`:
 * node:http with keep-alive, no CLI framework, no validation, no progress, no retries. A push asks (HEAD),
 * opens a session (POST) and uploads (one PUT) per blob, five at once, as stowage and ORAS do, then puts
 * the manifest; a pull gets the manifest and writes each blob, hashed, five at once. It starts in ~30 ms
 * and reads each file whole, so it is a floor for the many-small-files scenarios, not a client.
 *
 *   node bench/node-floor.js push http://127.0.0.1:5000 repo file...     # tags v1
 *   node bench/node-floor.js pull http://127.0.0.1:5000 repo outdir      # reads v1
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { basename, join } from 'node:path';

const manifestType = 'application/vnd.oci.image.manifest.v1+json';
const agent = new Agent({ keepAlive: true, maxSockets: 5 });

/** One request; resolves with the status, headers and body once the answer is read. */
function send(url, method, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const sent = request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': body.byteLength } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

function sha256(bytes) {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Runs `task` over `items`, five at once. */
async function fiveAtOnce(items, task) {
  const queue = [...items];
  const lane = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  };
  await Promise.all(Array.from({ length: 5 }, lane));
}

async function pushBlob(base, bytes, digest) {
  const head = await send(`${base}/blobs/${digest}`, 'HEAD');
  if (head.status === 200) return;
  const session = await send(`${base}/blobs/uploads/`, 'POST');
  if (session.status !== 202) throw new Error(`POST answered ${session.status}`);
  const location = new URL(session.headers.location, base);
  location.searchParams.set('digest', digest);
  const put = await send(location, 'PUT', bytes, { 'content-type': 'application/octet-stream' });
  if (put.status !== 201) throw new Error(`PUT answered ${put.status}`);
}

async function push(base, files) {
  const layers = [];
  await fiveAtOnce(files, async (file) => {
    const bytes = await readFile(file);
    const digest = sha256(bytes);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: bytes.byteLength, annotations: { 'org.opencontainers.image.title': basename(file) } });
    await pushBlob(base, bytes, digest);
  });
  const config = Buffer.from('{}');
  await pushBlob(base, config, sha256(config));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      artifactType: 'application/vnd.unknown.artifact.v1',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.byteLength },
      layers,
    }),
  );
  const put = await send(`${base}/manifests/v1`, 'PUT', manifest, { 'content-type': manifestType });
  if (put.status !== 201) throw new Error(`manifest PUT answered ${put.status}`);
}

async function pull(base, out) {
  const answer = await send(`${base}/manifests/v1`, 'GET', undefined, { accept: manifestType });
  if (answer.status !== 200) throw new Error(`manifest GET answered ${answer.status}`);
  const manifest = JSON.parse(answer.body.toString('utf8'));
  await fiveAtOnce(manifest.layers, async (layer) => {
    const blob = await send(`${base}/blobs/${layer.digest}`, 'GET');
    if (blob.status !== 200 || sha256(blob.body) !== layer.digest) throw new Error(`blob ${layer.digest}: ${blob.status} or wrong digest`);
    await writeFile(join(out, basename(layer.annotations['org.opencontainers.image.title'])), blob.body);
  });
}

const [verb, registry, repository, ...rest] = process.argv.slice(2);
const base = `${registry}/v2/${repository}`;
if (verb === 'push') await push(base, rest);
else if (verb === 'pull' && rest.length === 1) await pull(base, rest[0]);
else throw new Error('usage: node-floor.js push URL REPOSITORY FILE... | pull URL REPOSITORY OUTDIR');
agent.destroy();
