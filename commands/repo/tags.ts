import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { formatFlags, layoutFlags, remoteFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { isTagLister, resolveIfExists, StowageError } from '../../src/index.js';

// A tag that only records a digest: the referrers fallback tag `<alg>-<hex>` (distribution spec).
const digestTag = /^(sha256-[a-f0-9]{64}|sha512-[a-f0-9]{128})$/;

export default class RepoTags extends BaseCommand {
  static override summary = 'List the tags of a repository';
  static override description = `Lists the tags of a repository (sorted, page by page), or of an OCI layout. With a tag or digest in the
reference, only the tags that point to the same manifest (each tag is resolved: one request per tag).`;
  static override hiddenAliases = ['repo:show-tags'];
  static override examples = [
    '<%= config.bin %> repo tags localhost:5000/hello',
    '<%= config.bin %> repo tags --last v1 localhost:5000/hello',
    '<%= config.bin %> repo tags --exclude-digest-tags localhost:5000/hello',
    '<%= config.bin %> repo tags --oci-layout ./layout',
    '<%= config.bin %> repo tags localhost:5000/hello:latest',
    '<%= config.bin %> repo tags --format json localhost:5000/hello',
  ];
  static override args = {
    repository: Args.string({ description: '<registry>/<repository>[:<tag>|@<digest>] or, with --oci-layout, <path>[:<tag>|@<digest>]', required: true }),
  };
  static override flags = {
    last: Flags.string({ description: 'start after this tag' }),
    'exclude-digest-tags': Flags.boolean({ description: 'leave out tags of the form sha256-<hex> (referrers fallback tags)' }),
    ...remoteFlags,
    ...layoutFlags,
    ...formatFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RepoTags);
    const opened = await openTarget(args.repository, flags, { signal: this.signal });
    if (!isTagLister(opened.target)) throw new StowageError('UNSUPPORTED', `list tags of ${opened.name}: not supported by this store`);
    const target = opened.target;
    const wanted = opened.selector === undefined ? undefined : (await target.resolve(opened.selector, { signal: this.signal })).digest;
    if (wanted !== undefined) this.warnLine(`listing the tags that point to ${wanted}: each tag is resolved, which may take a while`);
    const tags: string[] = [];
    for await (const page of target.tags({ signal: this.signal, ...(flags.last === undefined ? {} : { last: flags.last }) })) {
      for (const tag of page) {
        if (flags['exclude-digest-tags'] && digestTag.test(tag)) continue;
        if (wanted !== undefined && (await resolveIfExists(target, tag, { signal: this.signal }))?.digest !== wanted) continue;
        tags.push(tag);
        if (flags.format === 'text') this.out(tag);
      }
    }
    if (flags.format === 'json') this.outJson({ tags });
  }
}
