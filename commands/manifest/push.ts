import { stat, readFile } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { applyDistributionSpec, distributionSpecFlag } from '../flags/referrers.js';
import { concurrencyFlag, layoutFlags, remoteFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { descriptorFlags, descriptorText, readStdinBytes, writeStdout } from '../ui/descriptor-output.js';
import { isValidDigest, maxManifestBytes, pushManifest, StowageError } from '../../src/index.js';

export default class ManifestPush extends BaseCommand {
  static override summary = 'Push a manifest to a registry or an OCI image layout';
  static override description = `Pushes a manifest file (or stdin, with "-") as it is: the digest is of these bytes. The media type
comes from --media-type or the manifest's "mediaType" field. The JSON, the media type and the 4 MiB limit
are checked before anything is sent. Several tags are separated by commas.`;
  static override examples = [
    '<%= config.bin %> manifest push localhost:5000/hello:v1 manifest.json',
    '<%= config.bin %> manifest push localhost:5000/hello:v1 - < manifest.json',
    '<%= config.bin %> manifest push --descriptor localhost:5000/hello:v1 manifest.json',
    '<%= config.bin %> manifest push --media-type application/vnd.oci.image.manifest.v1+json localhost:5000/hello:v1 manifest.json',
    '<%= config.bin %> manifest push localhost:5000/hello:tag1,tag2,tag3 manifest.json',
    '<%= config.bin %> manifest push --oci-layout ./layout:v1 manifest.json',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>[:<tag>[,<tag>...]|@<digest>] or, with --oci-layout, <path>[:<tag>|@<digest>]', required: true }),
    file: Args.string({ description: 'the manifest file; - for stdin', required: true }),
  };
  static override flags = {
    ...descriptorFlags,
    'media-type': Flags.string({ description: 'media type of the manifest (default: its "mediaType" field)' }),
    ...concurrencyFlag(5),
    ...distributionSpecFlag,
    ...remoteFlags,
    ...layoutFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ManifestPush);
    const signal = this.signal;
    const bytes = await this.readManifest(args.file, signal);
    const opened = await openTarget(args.reference, flags, { create: true, multipleTags: true, signal, actions: ['pull', 'push'] });
    applyDistributionSpec(opened.target, flags['distribution-spec']);
    const digest = opened.selector !== undefined && isValidDigest(opened.selector) ? opened.selector : undefined;
    const tags = digest === undefined ? opened.tags : [];
    const { descriptor } = await pushManifest(opened.target, bytes, {
      signal,
      tags,
      display: opened.display(opened.selector),
      ...(digest === undefined ? {} : { digest }),
      ...(flags['media-type'] === undefined ? {} : { mediaType: flags['media-type'] }),
    });
    if (flags.descriptor) {
      await writeStdout(descriptorText(descriptor, flags.pretty));
      return;
    }
    const [first, ...rest] = tags;
    this.out(`Pushed: [${opened.kind}] ${opened.display(first ?? digest)}`);
    for (const tag of rest) this.out(`Tagged ${tag}`);
    this.out(`Digest: ${descriptor.digest}`);
  }

  /** The manifest bytes, refusing more than 4 MiB before reading them (from a file) or while reading (stdin). */
  private async readManifest(file: string, signal: AbortSignal): Promise<Uint8Array> {
    const what = `read manifest ${file === '-' ? 'from stdin' : file}`;
    if (file === '-') return readStdinBytes(maxManifestBytes, what, signal);
    let size: number;
    try {
      const stats = await stat(file);
      if (!stats.isFile()) throw new StowageError('FILE_NOT_FOUND', `${what}: not a file`);
      size = stats.size;
    } catch (error) {
      if (error instanceof StowageError) throw error;
      throw new StowageError('FILE_NOT_FOUND', `${what}: no such file`, { cause: error });
    }
    if (size > maxManifestBytes) throw new StowageError('TOO_LARGE', `${what}: ${size} bytes is over the ${maxManifestBytes}-byte limit for manifests`);
    return readFile(file, { signal });
  }
}
