import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { layoutFlags, remoteFlags } from '../../flags/remote.js';
import { openTarget } from '../../target.js';
import { writeFileAtomically, writeStdout } from '../../ui/descriptor-output.js';
import { createIndex, indentJson, isValidDigest, parseAnnotationFlags, pushManifest, StowageError } from '../../../src/index.js';

export default class ManifestIndexCreate extends BaseCommand {
  static override summary = 'Create an image index from manifests and push it';
  static override description = `Packs the manifests the sources name (tags or digests, all in the target's repository or layout) into
an OCI image index, each entry with the platform its image config declares, and pushes it, with the tags
given (comma-separated). With --output the index is written to a file (or stdout with "-") and not pushed.`;
  static override hiddenAliases = ['manifest:index:pack'];
  static override strict = false;
  static override usage = '<%= command.id %> TARGET[:TAG[,TAG...]] SOURCE... [FLAGS]';
  static override examples = [
    '<%= config.bin %> manifest index create localhost:5000/hello linux-amd64 linux-arm64',
    '<%= config.bin %> manifest index create localhost:5000/hello:v1 linux-amd64 sha256:99e4703fbf30916f549cd6bfa9cdbab614b5392fbe64fdee971359a77073cdf9',
    '<%= config.bin %> manifest index create localhost:5000/hello:tag1,tag2 linux-amd64 linux-arm64',
    '<%= config.bin %> manifest index create localhost:5000/hello:v1 linux-amd64 --annotation key=val',
    '<%= config.bin %> manifest index create --artifact-type application/vnd.example+type localhost:5000/hello linux-amd64',
    '<%= config.bin %> manifest index create localhost:5000/hello linux-amd64 --output - --pretty',
    '<%= config.bin %> manifest index create --oci-layout ./layout:v1 linux-amd64 linux-arm64',
  ];
  static override args = {
    target: Args.string({ description: '<registry>/<repository>[:<tag>[,<tag>...]] or, with --oci-layout, <path>[:<tag>]', required: true }),
    sources: Args.string({ description: 'the manifests: tags or digests in the same repository', required: true }),
  };
  static override flags = {
    annotation: Flags.string({ char: 'a', description: 'index annotation key=value (repeatable)', multiple: true }),
    'artifact-type': Flags.string({ description: 'artifact type of the index' }),
    output: Flags.string({ char: 'o', description: 'write the index to this file (- for stdout) instead of pushing it', helpValue: 'path' }),
    pretty: Flags.boolean({ description: 'indent JSON printed to stdout', helpGroup: 'OUTPUT' }),
    ...remoteFlags,
    ...layoutFlags,
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(ManifestIndexCreate);
    const signal = this.signal;
    const sources = argv.slice(1).map(String);
    const annotations = parseAnnotationFlags(flags.annotation ?? []);
    const pushing = flags.output === undefined;
    const opened = await openTarget(args.target, flags, { multipleTags: true, signal, actions: pushing ? ['pull', 'push'] : ['pull'] });
    if (opened.selector !== undefined && isValidDigest(opened.selector)) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.target}": the index is tagged, not named by a digest`);
    }
    const packed = await createIndex(opened.target, sources, {
      signal,
      annotations,
      ...(flags['artifact-type'] === undefined ? {} : { artifactType: flags['artifact-type'] }),
    });
    if (flags.output === '-') {
      await writeStdout(flags.pretty ? indentJson(packed.bytes, 'index') : packed.bytes);
      return;
    }
    if (flags.output !== undefined) {
      await writeFileAtomically(flags.output, packed.bytes, signal);
      this.out(`Digest: ${packed.descriptor.digest}`);
      return;
    }
    await pushManifest(opened.target, packed.bytes, { signal, tags: opened.tags, display: opened.display(opened.selector) });
    const [first, ...rest] = opened.tags;
    this.out(`Pushed [${opened.kind}] ${opened.display(first)}`);
    for (const tag of rest) this.out(`Tagged ${tag}`);
    this.out(`Digest: ${packed.descriptor.digest}`);
  }
}
