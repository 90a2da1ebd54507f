import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { platformFlag } from '../flags/referrers.js';
import { layoutFlags, remoteFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { descriptorFlags, descriptorText, streamToStdout, writeFileAtomically, writeStdout } from '../ui/descriptor-output.js';
import { fetchBytes, fetchManifestConfig, indentJson, StowageError } from '../../src/index.js';

export default class ManifestFetchConfig extends BaseCommand {
  static override summary = 'Fetch the config of a manifest';
  static override description = `Prints the config blob of the image manifest a tag or digest names (of one platform's manifest with
--platform when it names an index), or its descriptor with --descriptor; -o writes it to a file.`;
  static override hiddenAliases = ['manifest:get-config'];
  static override examples = [
    '<%= config.bin %> manifest fetch-config localhost:5000/hello:v1',
    "<%= config.bin %> manifest fetch-config --platform 'linux/arm/v5' localhost:5000/hello:v1",
    '<%= config.bin %> manifest fetch-config --pretty localhost:5000/hello:v1',
    '<%= config.bin %> manifest fetch-config --output config.json localhost:5000/hello:v1',
    '<%= config.bin %> manifest fetch-config --descriptor localhost:5000/hello:v1',
    '<%= config.bin %> manifest fetch-config --oci-layout ./layout:v1',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>:<tag>|@<digest> or, with --oci-layout, <path>:<tag>|@<digest>', required: true }),
  };
  static override flags = {
    ...descriptorFlags,
    output: Flags.string({ char: 'o', description: 'write the config to this file; - for stdout', helpValue: 'path' }),
    ...platformFlag,
    ...remoteFlags,
    ...layoutFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ManifestFetchConfig);
    const signal = this.signal;
    if (flags.output === '-' && flags.descriptor) throw new StowageError('INVALID_ARGUMENT', '--output - and --descriptor cannot be used together');
    const opened = await openTarget(args.reference, flags, { signal });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest is required`);
    }
    const { config } = await fetchManifestConfig(opened.target, opened.selector, {
      signal,
      display: opened.display(opened.selector),
      ...(flags.platform === undefined ? {} : { platform: flags.platform }),
    });
    const toFile = flags.output !== undefined && flags.output !== '-';
    if (toFile) await writeFileAtomically(flags.output ?? '', await opened.target.fetch(config, { signal }), signal);
    if (flags.descriptor) {
      await writeStdout(descriptorText(config, flags.pretty));
      return;
    }
    if (toFile) return;
    if (flags.pretty) {
      await writeStdout(indentJson(await fetchBytes(opened.target, config, { signal }), opened.display(config.digest)));
      return;
    }
    await streamToStdout(await opened.target.fetch(config, { signal }), signal);
  }
}
