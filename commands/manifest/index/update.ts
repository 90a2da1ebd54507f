import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { layoutFlags, remoteFlags } from '../../flags/remote.js';
import { openTarget } from '../../target.js';
import { writeFileAtomically, writeStdout } from '../../ui/descriptor-output.js';
import { indentJson, isValidDigest, isValidTag, pushManifest, StowageError, updateIndex } from '../../../src/index.js';

export default class ManifestIndexUpdate extends BaseCommand {
  static override summary = 'Update an image index and push it';
  static override description = `Makes a new version of the index a tag or digest names: --remove takes entries out (by digest), --add
appends manifests, --merge appends the entries of other indexes (in that order; all in the same repository
or layout). The new index is pushed under the tag it was named by, and under every --tag. With --output it
is written to a file (or stdout with "-") and not pushed.`;
  static override usage = '<%= command.id %> INDEX{:TAG|@DIGEST} [--add MANIFEST] [--remove DIGEST] [--merge INDEX] [FLAGS]';
  static override examples = [
    '<%= config.bin %> manifest index update localhost:5000/hello:v1 --add linux-amd64 --add linux-arm64 --remove sha256:99e4703fbf30916f549cd6bfa9cdbab614b5392fbe64fdee971359a77073cdf9',
    '<%= config.bin %> manifest index update localhost:5000/hello:v2 --merge v2-windows',
    '<%= config.bin %> manifest index update localhost:5000/hello@sha256:99e4703fbf30916f549cd6bfa9cdbab614b5392fbe64fdee971359a77073cdf9 --add linux-amd64 --tag v2.1.0 --tag v2',
    '<%= config.bin %> manifest index update localhost:5000/hello:v2 --add v2-linux-amd64 --output index.json',
    '<%= config.bin %> manifest index update localhost:5000/hello:v1 --artifact-type ""',
    '<%= config.bin %> manifest index update --oci-layout ./layout:v2 --add linux-arm64',
  ];
  static override args = {
    index: Args.string({ description: '<registry>/<repository>:<tag>|@<digest> or, with --oci-layout, <path>:<tag>|@<digest>', required: true }),
  };
  static override flags = {
    add: Flags.string({ description: 'a manifest to add (tag or digest; repeatable)', multiple: true }),
    remove: Flags.string({ description: 'the digest of an entry to remove (repeatable)', multiple: true }),
    merge: Flags.string({ description: 'an index whose entries to add (tag or digest; repeatable)', multiple: true }),
    'artifact-type': Flags.string({ description: 'new artifact type of the index ("" removes it)' }),
    tag: Flags.string({ description: 'another tag for the updated index (repeatable)', multiple: true }),
    output: Flags.string({ char: 'o', description: 'write the index to this file (- for stdout) instead of pushing it', helpValue: 'path' }),
    pretty: Flags.boolean({ description: 'indent JSON printed to stdout', helpGroup: 'OUTPUT' }),
    ...remoteFlags,
    ...layoutFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ManifestIndexUpdate);
    const signal = this.signal;
    const extraTags = flags.tag ?? [];
    for (const tag of extraTags) {
      if (!isValidTag(tag)) throw new StowageError('INVALID_REFERENCE', `invalid tag "${tag}"`);
    }
    const pushing = flags.output === undefined;
    const opened = await openTarget(args.index, flags, { signal, actions: pushing ? ['pull', 'push'] : ['pull'] });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.index}": a tag or digest is required`);
    }
    const packed = await updateIndex(opened.target, opened.selector, {
      signal,
      ...(flags.add === undefined ? {} : { add: flags.add }),
      ...(flags.remove === undefined ? {} : { remove: flags.remove }),
      ...(flags.merge === undefined ? {} : { merge: flags.merge }),
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
    const tags = [...new Set([...(isValidDigest(opened.selector) ? [] : [opened.selector]), ...extraTags])];
    await pushManifest(opened.target, packed.bytes, { signal, tags, display: opened.display(opened.selector) });
    const [first, ...rest] = tags;
    this.out(`Pushed [${opened.kind}] ${opened.display(first)}`);
    for (const tag of rest) this.out(`Tagged ${tag}`);
    this.out(`Digest: ${packed.descriptor.digest}`);
  }
}
