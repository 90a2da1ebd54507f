import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { layoutFlags, remoteFlags, ttyFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { descriptorFlags, descriptorText, streamToStdout, writeFileAtomically, writeStdout } from '../ui/descriptor-output.js';
import { isBlobResolver, isValidDigest, StowageError } from '../../src/index.js';

export default class BlobFetch extends BaseCommand {
  static override summary = 'Fetch a blob from a registry or an OCI image layout';
  static override description = `Writes the blob a digest names to a file (-o), or to stdout with "-o -", verified against the digest:
a file is written under a temp name and renamed once the digest is checked. --descriptor prints its descriptor.`;
  static override hiddenAliases = ['blob:get'];
  static override examples = [
    '<%= config.bin %> blob fetch --output blob.tar.gz localhost:5000/hello@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
    '<%= config.bin %> blob fetch --output - localhost:5000/hello@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
    '<%= config.bin %> blob fetch --descriptor localhost:5000/hello@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
    '<%= config.bin %> blob fetch --oci-layout --output - ./layout@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>@<digest> or, with --oci-layout, <path>@<digest>', required: true }),
  };
  static override flags = {
    ...descriptorFlags,
    output: Flags.string({ char: 'o', description: 'write the blob to this file; - for stdout', helpValue: 'path' }),
    ...remoteFlags,
    ...layoutFlags,
    ...ttyFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(BlobFetch);
    const signal = this.signal;
    if (flags.output === undefined && !flags.descriptor) throw new StowageError('INVALID_ARGUMENT', 'either --output or --descriptor must be given');
    if (flags.output === '-' && flags.descriptor) throw new StowageError('INVALID_ARGUMENT', '--output - and --descriptor cannot be used together');
    const opened = await openTarget(args.reference, flags, { signal });
    const digest = opened.selector;
    if (digest === undefined || !isValidDigest(digest)) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a blob is named by <name>@<digest>`);
    }
    if (!isBlobResolver(opened.target)) throw new StowageError('UNSUPPORTED', `fetch blob ${opened.display(digest)}: not supported by this store`);
    const desc = await opened.target.resolveBlob(digest, { signal });
    if (flags.output === '-') {
      await streamToStdout(await opened.target.fetch(desc, { signal }), signal);
      return;
    }
    if (flags.output !== undefined) await writeFileAtomically(flags.output, await opened.target.fetch(desc, { signal }), signal);
    if (flags.descriptor) await writeStdout(descriptorText(desc, flags.pretty));
  }
}
