import { Args } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { remoteFlags } from './flags/remote.js';
import { CredentialStore, normaliseRegistryHost } from '../src/index.js';

export default class Logout extends BaseCommand {
  static override summary = 'Log out from a registry';
  static override description = `Removes the credentials stored for the registry wherever they live: its credential helper
("credHelpers"), the "credsStore" helper, the OS keychain (for a "stowage" helper entry, which goes too)
and config.json "auths" (legacy keys such as https://<registry>/ included).`;
  static override examples = ['<%= config.bin %> logout localhost:5000', '<%= config.bin %> logout docker.io --registry-config ./config.json'];
  static override args = {
    registry: Args.string({ description: 'the registry: localhost:5000, ghcr.io, docker.io', required: true }),
  };
  static override flags = {
    'registry-config': remoteFlags['registry-config'],
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logout);
    const registry = normaliseRegistryHost(args.registry);
    const store = new CredentialStore({ configPath: flags['registry-config'] });
    const { removed } = await store.delete(registry, { signal: this.signal });
    if (removed.length === 0) {
      this.warnLine(`no credentials were stored for ${registry} (in ${store.configPath} and the helpers it names)`);
      return;
    }
    this.out(`Removed login credentials for ${registry}`);
  }
}
