import { Args, Flags } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { platformFlag } from './flags/referrers.js';
import { layoutFlags, remoteFlags } from './flags/remote.js';
import { openTarget } from './target.js';
import { parsePlatform, selectPlatform, StowageError } from '../src/index.js';

export default class Resolve extends BaseCommand {
  static override summary = 'Resolve a tag to the digest of its manifest';
  static override description = 'Prints the digest a tag points to, or the full reference with -l; with --platform, the digest of that platform\'s manifest in an index.';
  static override examples = [
    '<%= config.bin %> resolve localhost:5000/hello:v1',
    '<%= config.bin %> resolve -l localhost:5000/hello:v1',
    '<%= config.bin %> resolve --oci-layout ./layout:v1',
    '<%= config.bin %> resolve --platform linux/arm64 localhost:5000/hello:v1',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>:<tag> or, with --oci-layout, <path>:<tag>', required: true }),
  };
  static override flags = {
    'full-reference': Flags.boolean({ char: 'l', description: 'print the full reference (<registry>/<repository>@<digest>)' }),
    ...platformFlag,
    ...remoteFlags,
    ...layoutFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Resolve);
    const opened = await openTarget(args.reference, flags, { signal: this.signal });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest is required`);
    }
    // Checked before any request: a malformed platform is a usage error.
    const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
    let desc = await opened.target.resolve(opened.selector, { signal: this.signal });
    if (platform !== undefined) desc = await selectPlatform(opened.target, desc, platform, opened.display(opened.selector), { signal: this.signal });
    this.out(flags['full-reference'] ? opened.display(desc.digest) : desc.digest);
  }
}
