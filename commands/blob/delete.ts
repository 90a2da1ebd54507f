import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { layoutFlags, remoteFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { deleteConfirmed, descriptorFlags } from '../ui/descriptor-output.js';
import { isBlobResolver, isDeleter, isStowageError, isValidDigest, StowageError, type Descriptor } from '../../src/index.js';

export default class BlobDelete extends BaseCommand {
  static override summary = 'Delete a blob from a registry or an OCI image layout';
  static override description = `Deletes the blob a digest names. Asks for confirmation on a terminal; without one, pass -f/--force
(which also makes a missing blob no error).`;
  static override hiddenAliases = ['blob:remove', 'blob:rm'];
  static override examples = [
    '<%= config.bin %> blob delete localhost:5000/hello@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
    '<%= config.bin %> blob delete --force localhost:5000/hello@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
    '<%= config.bin %> blob delete --descriptor --force localhost:5000/hello@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
    '<%= config.bin %> blob delete --force --oci-layout ./layout@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>@<digest> or, with --oci-layout, <path>@<digest>', required: true }),
  };
  static override flags = {
    ...descriptorFlags,
    force: Flags.boolean({ char: 'f', description: 'never ask, and a missing blob is no error' }),
    ...remoteFlags,
    ...layoutFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(BlobDelete);
    const signal = this.signal;
    const opened = await openTarget(args.reference, flags, { signal, actions: ['pull', 'delete'] });
    const digest = opened.selector;
    if (digest === undefined || !isValidDigest(digest)) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a blob is named by <name>@<digest>`);
    }
    const shown = opened.display(digest);
    if (!isBlobResolver(opened.target) || !isDeleter(opened.target)) throw new StowageError('UNSUPPORTED', `delete blob ${shown}: not supported by this store`);
    let desc: Descriptor | undefined;
    try {
      desc = await opened.target.resolveBlob(digest, { signal });
    } catch (error) {
      if (!isStowageError(error, 'NOT_FOUND')) throw error;
    }
    await deleteConfirmed(opened.target, desc, {
      noun: 'blob',
      question: `Are you sure you want to delete the blob "${digest}"?`,
      kind: opened.kind,
      shown,
      force: flags.force,
      descriptor: flags.descriptor,
      pretty: flags.pretty,
      out: (text) => {
        this.out(text);
      },
      signal,
    });
  }
}
