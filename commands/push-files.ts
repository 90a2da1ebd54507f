/**
 * What push and attach share: the packing flags read into files and annotations, and one pushArtifact with
 * progress, the digest cache and resumable upload sessions from the state directory.
 */
import { writeFile } from 'node:fs/promises';
import { Progress } from './ui/progress.js';
import {
  defaultStateDirectory,
  DigestCache,
  FileStore,
  MediaType,
  mergeAnnotations,
  parseAnnotationFlags,
  parseFileRef,
  parseFileRefs,
  pushArtifact,
  readAnnotationFile,
  UploadSessions,
  type FileRef,
  type PackFile,
  type PackedManifest,
  type PackOptions,
  type Target,
} from '../src/index.js';

/** The values of the packing flags (`flags/packing.ts`) this reads. */
export interface PackingFlagValues {
  annotation?: string[] | undefined;
  'annotation-file'?: string | undefined;
  config?: string | undefined;
  'export-manifest'?: string | undefined;
  'disable-path-validation'?: boolean | undefined;
}

/** Files to pack, and their annotations, as the command line gives them. */
export interface PackingInput {
  files: PackFile[];
  annotations: ReturnType<typeof mergeAnnotations>;
  config: FileRef | undefined;
  exportPath: string | undefined;
}

/**
 * Reads the file arguments and the packing flags (annotations, annotation file, config).
 * @throws StowageError as parseFileRefs, readAnnotationFile and mergeAnnotations do.
 */
export async function readPackingInput(fileArgs: readonly string[], flags: PackingFlagValues, signal: AbortSignal): Promise<PackingInput> {
  const files = parseFileRefs([...fileArgs], { disablePathValidation: flags['disable-path-validation'] === true });
  const annotationFile = flags['annotation-file'] === undefined ? undefined : await readAnnotationFile(flags['annotation-file'], { signal });
  return {
    files,
    annotations: mergeAnnotations(parseAnnotationFlags(flags.annotation ?? []), annotationFile, files),
    config: flags.config === undefined ? undefined : parseFileRef(flags.config),
    exportPath: flags['export-manifest'],
  };
}

/**
 * Packs `input` (files relative to the working directory) and pushes it to `target`, with progress on a
 * terminal when `progress` is true. Returns the packed manifest.
 * @throws StowageError as pushArtifact does.
 */
export async function pushPacked(
  target: Target,
  input: PackingInput,
  options: { pack: Omit<PackOptions, 'files' | 'config' | 'annotations' | 'configAnnotations'>; tags: string[]; concurrency: number; signal: AbortSignal; progress: boolean },
): Promise<PackedManifest> {
  const store = new FileStore(process.cwd());
  const progress = new Progress({ verbs: { active: 'Uploading', done: 'Uploaded' }, enabled: options.progress });
  // What stowage remembers between runs (file digests, upload sessions to resume); pushes work without it.
  const stateDirectory = defaultStateDirectory();
  const digestCache = await DigestCache.open(stateDirectory).catch(() => undefined);
  const { config, exportPath } = input;
  try {
    const packed = await pushArtifact(target, {
      store,
      files: input.files.map((file) => ({ ...file, annotations: input.annotations.files.get(file.title) ?? {} })),
      ...(config === undefined ? {} : { config: { path: config.path, mediaType: config.mediaType ?? MediaType.unknownConfig } }),
      pack: { ...options.pack, annotations: input.annotations.manifest, configAnnotations: input.annotations.config },
      tags: options.tags,
      concurrency: options.concurrency,
      signal: options.signal,
      ...(digestCache === undefined ? {} : { digestCache }),
      sessions: new UploadSessions(stateDirectory),
      ...(exportPath === undefined ? {} : { onPacked: (manifest: PackedManifest) => writeFile(exportPath, manifest.bytes) }),
      ...progress.hooks(),
      ...progress.fileHooks(),
    });
    progress.finish();
    return packed;
  } finally {
    progress.stop();
    await store.close();
  }
}
