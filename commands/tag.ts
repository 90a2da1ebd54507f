import { Args } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { concurrencyFlag, formatFlags, layoutFlags, remoteFlags } from './flags/remote.js';
import { openTarget } from './target.js';
import { isValidTag, StowageError, tagAll } from '../src/index.js';

export default class Tag extends BaseCommand {
  static override summary = 'Give a manifest one or more tags';
  static override description = 'Points each tag at the manifest the source reference names, in the same repository.';
  static override examples = [
    '<%= config.bin %> tag localhost:5000/hello:v1 v2',
    '<%= config.bin %> tag localhost:5000/hello@sha256:... v2 v3 latest',
    '<%= config.bin %> tag localhost:5000/hello:v1 v2,v3',
    '<%= config.bin %> tag --oci-layout ./layout:v1 v2',
  ];
  static override strict = false;
  static override usage = '<%= command.id %> REFERENCE TAG [TAG...] [FLAGS]';
  static override args = {
    reference: Args.string({ description: 'the manifest to tag: <registry>/<repository>:<tag>|@<digest>', required: true }),
    tags: Args.string({ description: 'new tags (several, or comma-separated)', required: true }),
  };
  static override flags = {
    ...concurrencyFlag(5),
    ...remoteFlags,
    ...layoutFlags,
    ...formatFlags,
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Tag);
    const tags = [...new Set(argv.slice(1).map(String).flatMap((value) => value.split(',')))];
    for (const tag of tags) {
      if (!isValidTag(tag)) throw new StowageError('INVALID_REFERENCE', `invalid tag "${tag}": letters, digits, "_", "." and "-", up to 128, not starting with "." or "-"`);
    }
    const opened = await openTarget(args.reference, flags, { signal: this.signal, actions: ['pull', 'push'] });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest is required`);
    }
    const desc = await opened.target.resolve(opened.selector, { signal: this.signal });
    const json = flags.format === 'json';
    if (!json) this.out(`Tagging [${opened.kind}] ${opened.display(desc.digest)}`);
    for (const tag of tags) {
      await tagAll(opened.target, desc, [tag], { signal: this.signal });
      if (!json) this.out(`Tagged ${tag}`);
    }
    if (json) this.outJson({ reference: opened.display(desc.digest), mediaType: desc.mediaType, digest: desc.digest, size: desc.size, tags });
  }
}
