/**
 * A push of one file through the built library (dist/), in a process of its own, for tests that kill it:
 *   node push-file-child.js <registry host> <repository> <file> <state directory> <chunk size> [kill at offset]
 * With upload sessions in the state directory (what `stowage push` keeps). With a kill offset, the process
 * sends itself SIGKILL just before it would send the PATCH that starts at or beyond that offset: the chunks
 * before it are acknowledged and recorded, none is in flight. Prints the push result as JSON.
 */
import { Agent } from 'undici';
import { HttpClient, RemoteRepository, UploadSessions } from '../../dist/src/index.js';

const [host, repository, file, stateDirectory, chunkSize, killAt] = process.argv.slice(2);
if (host === undefined || repository === undefined || file === undefined || stateDirectory === undefined || chunkSize === undefined) {
  process.stderr.write('usage: push-file-child.js <host> <repository> <file> <state directory> <chunk size> [kill at offset]\n');
  process.exit(2);
}

/** The first value of a header in undici's dispatch options (an object or a flat [name, value, ...] list). */
function header(headers, name) {
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) if (String(headers[i]).toLowerCase() === name) return String(headers[i + 1]);
    return undefined;
  }
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return Array.isArray(value) ? String(value[0]) : String(value);
  return undefined;
}

let dispatcher = new Agent();
if (killAt !== undefined) {
  const limit = Number(killAt);
  dispatcher = dispatcher.compose((dispatch) => (options, handler) => {
    const range = options.method === 'PATCH' ? header(options.headers, 'content-range') : undefined;
    if (range !== undefined && Number(range.split('-')[0]) >= limit) process.kill(process.pid, 'SIGKILL');
    return dispatch(options, handler);
  });
}

const repo = new RemoteRepository({ registry: host, repository, client: new HttpClient({ dispatcher }) });
const result = await repo.pushFile(file, { chunkSize: Number(chunkSize), sessions: new UploadSessions(stateDirectory) });
process.stdout.write(`${JSON.stringify(result)}\n`);
