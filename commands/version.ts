import { BaseCommand } from './base-command.js';
import { formatFlags } from './flags/remote.js';
import { stowageVersion } from '../src/index.js';

export default class Version extends BaseCommand {
  static override summary = 'Show the version of stowage';
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --format json'];
  static override flags = { ...formatFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Version);
    const info = { version: stowageVersion, nodeVersion: process.version, platform: `${process.platform}/${process.arch}` };
    if (flags.format === 'json') {
      this.outJson(info);
      return;
    }
    this.out(`Version:      ${info.version}\nNode version: ${info.nodeVersion}\nOS/Arch:      ${info.platform}`);
  }
}
