import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { applyDistributionSpec, distributionSpecFlag } from '../flags/referrers.js';
import { layoutFlags, remoteFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { deleteConfirmed, descriptorFlags } from '../ui/descriptor-output.js';
import { isDeleter, resolveIfExists, StowageError } from '../../src/index.js';

export default class ManifestDelete extends BaseCommand {
  static override summary = 'Delete a manifest from a registry or an OCI image layout';
  static override description = `Deletes the manifest a tag or digest names. A registry deletes by digest, so a tag is resolved first,
and every tag that points to the manifest goes with it. Asks for confirmation on a terminal; without one,
pass -f/--force (which also makes a missing manifest no error).`;
  static override hiddenAliases = ['manifest:remove', 'manifest:rm'];
  static override examples = [
    '<%= config.bin %> manifest delete localhost:5000/hello:v1',
    '<%= config.bin %> manifest delete --force localhost:5000/hello:v1',
    '<%= config.bin %> manifest delete --force --descriptor localhost:5000/hello:v1',
    '<%= config.bin %> manifest delete localhost:5000/hello@sha256:99e4703fbf30916f549cd6bfa9cdbab614b5392fbe64fdee971359a77073cdf9',
    '<%= config.bin %> manifest delete --force --oci-layout ./layout:v1',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>:<tag>|@<digest> or, with --oci-layout, <path>:<tag>|@<digest>', required: true }),
  };
  static override flags = {
    ...descriptorFlags,
    force: Flags.boolean({ char: 'f', description: 'never ask, and a missing manifest is no error' }),
    ...distributionSpecFlag,
    ...remoteFlags,
    ...layoutFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ManifestDelete);
    const signal = this.signal;
    const opened = await openTarget(args.reference, flags, { signal, actions: ['pull', 'delete'] });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest is required`);
    }
    applyDistributionSpec(opened.target, flags['distribution-spec']);
    const shown = opened.display(opened.selector);
    if (!isDeleter(opened.target)) throw new StowageError('UNSUPPORTED', `delete ${shown}: not supported by this store`);
    const desc = await resolveIfExists(opened.target, opened.selector, { signal });
    await deleteConfirmed(opened.target, desc, {
      noun: 'manifest',
      question: `Are you sure you want to delete the manifest "${desc?.digest ?? ''}" and all tags associated with it?`,
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
