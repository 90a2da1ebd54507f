import { resolve as resolvePath } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { platformFlag } from './flags/referrers.js';
import { concurrencyFlag, formatFlags, layoutFlags, remoteFlags, ttyFlags } from './flags/remote.js';
import { openTarget } from './target.js';
import { Progress, progressEnabled } from './ui/progress.js';
import { Annotation, copy, FileStore, parsePlatform, pullSuccessors, selectPlatform, StowageError, titleOf, type Descriptor, type ParsedManifest } from '../src/index.js';

export default class Pull extends BaseCommand {
  static override summary = 'Pull the files of an artifact from a registry or an OCI image layout';
  static override description = `Writes every layer that has a file name (org.opencontainers.image.title) into the output directory,
unpacking directories. Each file is written to a temporary name and renamed only after its size and digest
are verified. A download cut short (network failure, Ctrl-C) is kept as .<name>.<digest prefix>.partial and the
next pull of the same file asks only for the rest; the whole file is still verified. Names that would land
outside the output directory are refused unless --allow-path-traversal.`;
  static override examples = [
    '<%= config.bin %> pull localhost:5000/hello:v1',
    '<%= config.bin %> pull localhost:5000/hello:v1 -o ./out',
    '<%= config.bin %> pull localhost:5000/hello@sha256:... -k',
    '<%= config.bin %> pull --oci-layout ./layout:v1 -o ./out',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>:<tag>|@<digest> or, with --oci-layout, <path>:<tag>', required: true }),
  };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'output directory', default: '.' }),
    'keep-old-files': Flags.boolean({ char: 'k', description: 'fail instead of overwriting an existing file' }),
    'allow-path-traversal': Flags.boolean({ char: 'T', description: 'allow file names that land outside the output directory' }),
    'include-subject': Flags.boolean({ description: 'also pull the subject of the manifest (what a referrer is attached to), recursively' }),
    ...platformFlag,
    ...concurrencyFlag(3),
    ...remoteFlags,
    ...layoutFlags,
    ...formatFlags,
    ...ttyFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Pull);
    const signal = this.signal;
    const opened = await openTarget(args.reference, flags, { signal });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest is required`);
    }
    // The manifest of one platform, when the reference is an index.
    const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
    const selector =
      platform === undefined
        ? opened.selector
        : (await selectPlatform(opened.target, await opened.target.resolve(opened.selector, { signal }), platform, opened.display(opened.selector), { signal })).digest;
    const output = resolvePath(flags.output);
    // resume: a download cut short (network, Ctrl-C) is kept as .<name>.<hex12>.partial and continued next time.
    const store = new FileStore(output, { keepOldFiles: flags['keep-old-files'], allowPathTraversal: flags['allow-path-traversal'], resume: true });
    const progress = new Progress({ verbs: { active: 'Downloading', done: 'Downloaded' }, enabled: progressEnabled(flags) });
    const hooks = progress.hooks();
    const written: Descriptor[] = [];
    let root: Descriptor;
    try {
      root = await copy(opened.target, selector, store, undefined, {
        concurrency: flags.concurrency,
        signal,
        successors: flags['include-subject'] ? withSubject : pullSuccessors,
        ...hooks,
        onDone: (desc) => {
          if (titleOf(desc) !== undefined) written.push(desc);
          hooks.onDone?.(desc);
        },
      });
      progress.finish();
    } finally {
      progress.stop();
      await store.close();
    }
    if (written.length === 0) this.warnLine(`${opened.display(opened.selector)} has no layer with a file name (${Annotation.title}): nothing written`);
    if (flags.format === 'json') {
      this.outJson({
        reference: opened.display(root.digest),
        files: written.map((desc) => ({
          path: filePath(output, desc),
          reference: opened.display(desc.digest),
          mediaType: desc.mediaType,
          digest: desc.digest,
          size: desc.size,
          annotations: desc.annotations ?? {},
        })),
      });
      return;
    }
    this.out(`Pulled [${opened.kind}] ${opened.display(opened.selector)}`);
    this.out(`Digest: ${root.digest}`);
  }
}

/** What a pull descends into with --include-subject: the files, and the subject manifest too. */
function withSubject(node: Descriptor, parsed: ParsedManifest): Descriptor[] {
  const children = pullSuccessors(node, parsed);
  const subject = parsed.kind === 'index' ? parsed.index.subject : parsed.manifest.subject;
  if (subject !== undefined) children.push({ mediaType: subject.mediaType, digest: subject.digest, size: subject.size });
  return children;
}

/** Where a pulled blob went: the absolute path, with a trailing "/" for an unpacked directory (as ORAS prints it). */
function filePath(output: string, desc: Descriptor): string {
  const path = resolvePath(output, titleOf(desc) ?? '');
  return desc.annotations?.[Annotation.contentUnpack] === 'true' ? `${path}/` : path;
}
