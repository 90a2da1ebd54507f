/**
 * Docker credential helpers (`docker-credential-<name>`, as named by `credsStore` or `credHelpers`), spoken
 * to over their protocol: the action is the one argument; `get` and `erase` read the server URL on stdin,
 * `store` reads `{"ServerURL","Username","Secret"}`; `get` prints `{"ServerURL","Username","Secret"}` and
 * `list` prints `{"<url>":"<username>"}`. A helper that fails exits non-zero with its message on stdout;
 * "credentials not found" means there is nothing stored. A username of `<token>` means the secret is an
 * identity token.
 */
import { spawn } from 'node:child_process';
import { z } from 'zod';
import type { OperationOptions } from '../../content/store.js';
import { abortError, StowageError, throwIfAborted } from '../../errors.js';
import { fromHelperSecret, redactSecrets, toHelperSecret, type StoredCredentials } from './stored-credentials.js';

/** Helper output is read up to this many bytes. */
const maxOutputBytes = 1024 * 1024;
const helperNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const getAnswerSchema = z.looseObject({
  ServerURL: z.string().optional(),
  Username: z.string(),
  Secret: z.string(),
});

const listAnswerSchema = z.record(z.string(), z.string());

/** What a helper said when it exited. */
interface HelperRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link CredentialHelper}. */
export interface CredentialHelperOptions {
  /** The helper's environment (it finds `PATH` there too). Default: `process.env`. */
  env?: Record<string, string | undefined>;
}

/** One `docker-credential-<name>` program. */
export class CredentialHelper {
  /** The name in config.json (`desktop`, `pass`, `ecr-login`). */
  readonly name: string;
  /** The program run: `docker-credential-<name>`, looked up on `PATH`. */
  readonly program: string;
  private readonly env: Record<string, string | undefined>;

  /** @throws StowageError `INVALID_ARGUMENT` for a name that could not be a program name (`/`, spaces). */
  constructor(name: string, options: CredentialHelperOptions = {}) {
    if (!helperNamePattern.test(name)) {
      throw new StowageError('INVALID_ARGUMENT', `invalid credential helper name "${name}" in the registry config: expected letters, digits, ".", "_" or "-"`);
    }
    this.name = name;
    this.program = `docker-credential-${name}`;
    this.env = options.env ?? process.env;
  }

  /**
   * The credentials the helper holds for `serverAddress`, or `undefined` when it has none.
   * @throws StowageError `FILE_NOT_FOUND` (helper not installed), `IO` (helper failed or answered
   *   something that is not its protocol), `ABORTED`.
   */
  async get(serverAddress: string, options: OperationOptions = {}): Promise<StoredCredentials | undefined> {
    const run = await this.run('get', serverAddress, serverAddress, options);
    if (run.code !== 0) {
      if (notFound(run)) return undefined;
      throw this.failure('get', serverAddress, run, undefined);
    }
    let json: unknown;
    try {
      json = JSON.parse(run.stdout);
    } catch {
      json = undefined;
    }
    const parsed = getAnswerSchema.safeParse(json);
    if (!parsed.success) {
      // Never quote the output: it may hold the secret.
      throw new StowageError('IO', `${this.program} get ${serverAddress}: the helper's answer is not {"ServerURL","Username","Secret"} JSON`);
    }
    return fromHelperSecret(parsed.data.Username, parsed.data.Secret);
  }

  /**
   * Stores credentials for `serverAddress` (an identity token as username `<token>`).
   * @throws StowageError `FILE_NOT_FOUND`, `IO`, `ABORTED`.
   */
  async store(serverAddress: string, credentials: StoredCredentials, options: OperationOptions = {}): Promise<void> {
    const input = JSON.stringify({ ServerURL: serverAddress, ...toHelperSecret(credentials) });
    const run = await this.run('store', input, serverAddress, options);
    if (run.code !== 0) throw this.failure('store', serverAddress, run, credentials);
  }

  /**
   * Erases the credentials for `serverAddress`. Returns false when the helper had none.
   * @throws StowageError `FILE_NOT_FOUND`, `IO`, `ABORTED`.
   */
  async erase(serverAddress: string, options: OperationOptions = {}): Promise<boolean> {
    const run = await this.run('erase', serverAddress, serverAddress, options);
    if (run.code === 0) return true;
    if (notFound(run)) return false;
    throw this.failure('erase', serverAddress, run, undefined);
  }

  /**
   * Every server URL the helper holds credentials for, with its username.
   * @throws StowageError `FILE_NOT_FOUND`, `IO`, `ABORTED`.
   */
  async list(options: OperationOptions = {}): Promise<Record<string, string>> {
    const run = await this.run('list', '', 'list', options);
    if (run.code !== 0) throw this.failure('list', '', run, undefined);
    let json: unknown;
    try {
      json = JSON.parse(run.stdout);
    } catch {
      json = undefined;
    }
    const parsed = listAnswerSchema.safeParse(json);
    if (!parsed.success) throw new StowageError('IO', `${this.program} list: the helper's answer is not a JSON object of server URLs and usernames`);
    return parsed.data;
  }

  private failure(action: string, serverAddress: string, run: HelperRun, credentials: StoredCredentials | undefined): StowageError {
    const said = firstLine(run.stdout) ?? firstLine(run.stderr) ?? `exited with ${String(run.code)}`;
    const what = `${this.program} ${action}${serverAddress === '' ? '' : ` ${serverAddress}`}`;
    return new StowageError('IO', `${what}: ${redactSecrets(said, credentials)}`);
  }

  private run(action: string, input: string, subject: string, options: OperationOptions): Promise<HelperRun> {
    const operation = `${this.program} ${action} ${subject}`;
    throwIfAborted(options.signal, operation);
    return new Promise((resolve, reject) => {
      const child = spawn(this.program, [action], {
        env: this.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let bytes = 0;
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        bytes += chunk.byteLength;
        if (bytes > maxOutputBytes) {
          child.kill();
          return;
        }
        into.push(chunk);
      };
      child.stdout.on('data', collect(stdout));
      child.stderr.on('data', collect(stderr));
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (options.signal?.aborted === true) {
          reject(abortError(options.signal, operation));
        } else if (error.code === 'ENOENT') {
          reject(new StowageError('FILE_NOT_FOUND', `credential helper ${this.program} is not installed (not found on PATH); it is configured in the registry config`, { cause: error }));
        } else {
          reject(new StowageError('IO', `${operation}: cannot run the credential helper: ${error.message}`, { cause: error }));
        }
      });
      // A helper that exits without reading its input closes the pipe: its exit code says what happened.
      child.stdin.on('error', () => undefined);
      child.once('close', (code) => {
        if (options.signal?.aborted === true) {
          reject(abortError(options.signal, operation));
          return;
        }
        if (bytes > maxOutputBytes) {
          reject(new StowageError('IO', `${operation}: the helper printed more than ${maxOutputBytes} bytes`));
          return;
        }
        resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
      });
      child.stdin.end(input);
    });
  }
}

/** Docker's helpers say "credentials not found in native keychain"; others say it in their own words. */
function notFound(run: HelperRun): boolean {
  return /credentials not found|not found in (native )?keychain|no credentials/i.test(`${run.stdout}\n${run.stderr}`);
}

/** The first non-empty line of a helper's output, printable ASCII only, at most 200 characters. */
function firstLine(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const clean = line.replace(/[^\x20-\x7e]/g, '').trim();
    if (clean !== '') return clean.slice(0, 200);
  }
  return undefined;
}
