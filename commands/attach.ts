import { Args, Flags } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { applyDistributionSpec, distributionSpecFlag, platformFlag } from './flags/referrers.js';
import { concurrencyFlag, formatFlags, layoutFlags, remoteFlags, ttyFlags } from './flags/remote.js';
import { packingFlags } from './flags/packing.js';
import { openTarget } from './target.js';
import { pushPacked, readPackingInput } from './push-files.js';
import { progressEnabled } from './ui/progress.js';
import { parsePlatform, selectPlatform, StowageError, type Descriptor } from '../src/index.js';

export default class Attach extends BaseCommand {
  static override summary = 'Attach files to an existing artifact or image as a referrer (an SBOM, a signature)';
  static override description = `Packs files into an artifact manifest whose subject is the manifest the reference names, and pushes it.
"discover" lists what is attached. On a registry without the referrers API, the referrer is added to the
<alg>-<hex> tag index of the subject; many attaches to one subject at once all end up listed.`;
  static override examples = [
    '<%= config.bin %> attach localhost:5000/hello:v1 --artifact-type application/spdx+json sbom.spdx.json',
    '<%= config.bin %> attach localhost:5000/hello@sha256:... --artifact-type application/vnd.example.signature -a signer=ci sig.bin',
    '<%= config.bin %> attach localhost:5000/hello:v1 --artifact-type application/vnd.example.note --platform linux/arm64',
    '<%= config.bin %> attach --oci-layout ./layout:v1 --artifact-type application/vnd.example.sbom sbom.json',
  ];
  static override strict = false;
  static override usage = '<%= command.id %> REFERENCE [FILE[:MEDIATYPE]...] --artifact-type TYPE [FLAGS]';
  static override args = {
    reference: Args.string({ description: 'the subject: <registry>/<repository>:<tag>|@<digest> or, with --oci-layout, <path>:<tag>|@<digest>', required: true }),
    files: Args.string({ description: 'files and directories to attach: <path>[:<mediaType>] ...' }),
  };
  static override flags = {
    ...packingFlags,
    'artifact-type': Flags.string({ description: 'artifact type of the referrer manifest (required)' }),
    ...platformFlag,
    ...distributionSpecFlag,
    ...concurrencyFlag(5),
    ...remoteFlags,
    ...layoutFlags,
    ...formatFlags,
    ...ttyFlags,
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Attach);
    const signal = this.signal;
    // Checked here rather than by oclif, whose message for a missing required flag spans several lines.
    const artifactType = flags['artifact-type'];
    if (artifactType === undefined || artifactType === '') {
      throw new StowageError('INVALID_ARGUMENT', 'attach needs --artifact-type: the type of what is attached (application/spdx+json, application/vnd.example.signature, ...)');
    }
    const opened = await openTarget(args.reference, flags, { signal, actions: ['pull', 'push'] });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest of the subject is required`);
    }
    applyDistributionSpec(opened.target, flags['distribution-spec']);
    const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
    const input = await readPackingInput(argv.slice(1).map(String), flags, signal);
    if (input.files.length === 0 && Object.keys(input.annotations.manifest).length === 0) {
      throw new StowageError('INVALID_ARGUMENT', 'attach needs files to attach, or manifest annotations (-a key=value): neither was given');
    }

    let subject = await opened.target.resolve(opened.selector, { signal });
    if (platform !== undefined) subject = await selectPlatform(opened.target, subject, platform, opened.display(opened.selector), { signal });
    const subjectRef: Descriptor = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };

    const packed = await pushPacked(opened.target, input, {
      pack: { artifactType, imageSpec: 'v1.1', subject: subjectRef },
      tags: [],
      concurrency: flags.concurrency,
      signal,
      progress: progressEnabled(flags),
    });
    const desc = packed.descriptor;
    if (flags.format === 'json') {
      this.outJson({
        reference: opened.display(desc.digest),
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        annotations: desc.annotations ?? {},
        artifactType: desc.artifactType ?? '',
        subject: { reference: opened.display(subject.digest), ...subjectRef },
      });
      return;
    }
    this.out(`Attached to [${opened.kind}] ${opened.display(subject.digest)}`);
    this.out(`Digest: ${desc.digest}`);
  }
}
