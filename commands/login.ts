import { Args, Flags } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { remoteFlags } from './flags/remote.js';
import { createClient, readStdin, remotePlainHttp } from './client.js';
import { canPrompt, promptHidden, promptLine } from './ui/prompt.js';
import {
  CredentialStore,
  isStowageError,
  normaliseRegistryHost,
  RemoteRegistry,
  StowageError,
  type CredentialStoreChoice,
  type PutCredentialsResult,
  type StoredCredentials,
} from '../src/index.js';

function storeChoiceOf(value: string): CredentialStoreChoice {
  if (value === 'auto' || value === 'file' || value === 'keychain') return value;
  throw new StowageError('INVALID_ARGUMENT', `invalid --credential-store "${value}": use auto, file or keychain`);
}

export default class Login extends BaseCommand {
  static override summary = 'Log in to a registry';
  static override description = `Checks the credentials against the registry (GET /v2/) and saves them only when it accepts them.
Without -u/-p (or --password-stdin, --identity-token) it asks on a terminal: the password is not echoed;
an empty username asks for an identity token instead.

Where the credentials go (--credential-store):
  auto      (default) the credential helper config.json names for the registry ("credHelpers"), else its
            "credsStore" helper, else config.json itself ("auths", base64: readable by anyone who can read the file)
  file      config.json "auths", even when a helper is configured for the registry
  keychain  the OS keychain (macOS Keychain, Windows Credential Manager, GNOME Keyring / KWallet); config.json
            then records "credHelpers": {"<registry>": "stowage"} so stowage, docker and oras find it
            (docker and oras run docker-credential-stowage). Falls back to the file, with a warning, when no
            keychain is available.
config.json is --registry-config, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json: the file
docker and oras use, so their logins work for stowage and the other way round.`;
  static override examples = [
    '<%= config.bin %> login localhost:5000',
    '<%= config.bin %> login localhost:5000 -u admin --password-stdin < password.txt',
    '<%= config.bin %> login ghcr.io -u octocat --credential-store keychain',
    '<%= config.bin %> login registry.example.com --identity-token-stdin < token.txt',
  ];
  static override args = {
    registry: Args.string({ description: 'the registry: localhost:5000, ghcr.io, docker.io', required: true }),
  };
  static override flags = {
    ...remoteFlags,
    'credential-store': Flags.string({
      description: 'where to save the credentials: auto (follow config.json), file (config.json) or keychain (the OS keychain)',
      options: ['auto', 'file', 'keychain'],
      default: 'auto',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Login);
    const signal = this.signal;
    const registry = normaliseRegistryHost(args.registry);
    const choice = storeChoiceOf(flags['credential-store']);
    const credentials = await this.credentials(registry, flags);

    const client = await createClient(registry, {
      ...flags,
      username: credentials.username,
      password: credentials.password,
      'password-stdin': false,
      'identity-token-stdin': false,
      'identity-token': credentials.identityToken,
    });
    const plainHttp = remotePlainHttp(flags);
    const remote = new RemoteRegistry({ registry, client, ...(plainHttp === undefined ? {} : { plainHttp }) });
    const { authorized } = await remote.ping({ signal });
    if (!authorized) {
      const who = credentials.identityToken !== undefined ? 'the identity token' : `the username "${credentials.username}" and password`;
      throw new StowageError('UNAUTHORIZED', `login ${registry}: the registry refused ${who}; nothing was saved`);
    }

    const store = new CredentialStore({ configPath: flags['registry-config'] });
    let saved: PutCredentialsResult;
    try {
      saved = await store.put(registry, credentials, { store: choice, signal });
    } catch (error) {
      if (!isStowageError(error, 'UNSUPPORTED') || choice === 'file') throw error;
      this.warnLine(`${error.message}; saving the credentials in ${store.configPath} instead`);
      saved = await store.put(registry, credentials, { store: 'file', signal });
    }
    if (saved.plainText) {
      this.warnLine(
        `your credentials are stored unencrypted in ${saved.configPath}; use --credential-store keychain or configure a credential helper to keep them out of the file`,
      );
    }
    this.out('Login Succeeded');
  }

  /** The credentials from the flags, stdin, or prompts on a terminal. */
  private async credentials(
    registry: string,
    flags: { username?: string | undefined; password?: string | undefined; 'password-stdin'?: boolean | undefined; 'identity-token'?: string | undefined; 'identity-token-stdin'?: boolean | undefined },
  ): Promise<StoredCredentials> {
    const signal = this.signal;
    let identityToken = flags['identity-token'];
    if (flags['identity-token-stdin'] === true) identityToken = await readStdin();
    let password = flags.password;
    if (flags['password-stdin'] === true) password = await readStdin();
    let username = flags.username;

    if (identityToken !== undefined) {
      if (identityToken === '') throw new StowageError('INVALID_ARGUMENT', `login ${registry}: the identity token is empty`);
      return { username: username ?? '', password: '', identityToken };
    }
    const interactive = canPrompt() && flags['password-stdin'] !== true;
    if (!interactive && (username === undefined || password === undefined)) {
      const missing = username === undefined && password === undefined ? 'no credentials were given' : username === undefined ? 'no username was given' : 'no password was given';
      throw new StowageError(
        'INVALID_ARGUMENT',
        `login ${registry}: ${missing} and stdin is not a terminal to ask on: use -u with -p or --password-stdin, or --identity-token(-stdin)`,
      );
    }
    if (username === undefined) {
      username = await promptLine('Username: ', signal);
      if (username === '') {
        if (password !== undefined) throw new StowageError('INVALID_ARGUMENT', `login ${registry}: a username is needed with a password`);
        const token = await promptHidden('Identity token: ', signal);
        if (token === '') throw new StowageError('INVALID_ARGUMENT', `login ${registry}: no username and no identity token given`);
        return { username: '', password: '', identityToken: token };
      }
    }
    password ??= await promptHidden('Password: ', signal);
    if (password === '') throw new StowageError('INVALID_ARGUMENT', `login ${registry}: the password is empty`);
    return { username, password };
  }
}
