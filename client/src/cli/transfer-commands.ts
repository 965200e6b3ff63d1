import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { formatBytes } from '../../../shared/sizes.ts';
import type { CommandContext } from './context.ts';
import { UsageError } from './output.ts';
import { progressBar } from './progress.ts';
import { zipDirectory } from './zip.ts';

/**
 * `push <file|dir> --project P [--message M]`: a new version whose snapshot is the file, or the
 * directory zipped (streaming, to a temp file). Uploads through the Node helper's version
 * variant: version.create, then the parts, then completeUpload. With --resume an interrupted
 * push of the same file or unchanged directory sends only the parts that did not land.
 */
export async function push({ client, out, args, signal }: CommandContext) {
  const [target] = args.positionals;
  const projectId = args.values.project;
  if (!target || !projectId) throw new UsageError('usage: coffer push <file|dir> --project P [--message M] [--resume]');
  const info = await stat(target).catch(() => null);
  if (!info) throw new UsageError(`no such file or directory: ${target}`);
  const resume = args.values.resume ?? false;
  const keepIn = resume ? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'coffer', 'push') : undefined;
  const zipped = info.isDirectory() ? await zipDirectory(target, signal, { keepIn }) : null;
  let pushed = false;
  try {
    if (zipped) out.note(`zipped ${zipped.files} files from ${target}`);
    const bar = progressBar(`push ${basename(resolve(target))}`);
    const contentType = zipped || target.endsWith('.zip') ? 'application/zip' : 'application/octet-stream';
    const { version, artifact } = await client.upload(zipped?.path ?? target, {
      version: { projectId, source: 'manual', message: args.values.message },
      contentType,
      signal,
      resume,
      onProgress: (p) => bar.update(p.sentBytes, p.totalBytes),
    });
    bar.finish();
    pushed = true;
    out.result(
      { version, artifact },
      () => `pushed version ${version.id} of ${projectId} (${formatBytes(artifact.sizeBytes)}, sha256 ${artifact.sha256})`,
    );
  } finally {
    // A resumable push keeps its zip after a failure: the next `push --resume` sends only what is missing.
    if (pushed || !resume) await zipped?.dispose();
  }
}

/** `pull <versionId> | --latest P [-o path]`: the snapshot, verified against its size and sha256. */
export async function pull({ client, out, args, signal }: CommandContext) {
  const latest = args.values.latest;
  const [versionArg] = args.positionals;
  if (!latest === !versionArg) throw new UsageError('usage: coffer pull <versionId> | --latest <project> [-o path]');
  let versionId = versionArg;
  if (latest) {
    const exported = await client.version.exportLatest.query({ projectId: latest }, { signal });
    if (!exported.available) throw new Error(exported.message);
    versionId = exported.version.id;
  }
  const version = await client.version.get.query({ versionId: versionId! }, { signal });
  if (version.status !== 'ready' || !version.snapshot)
    throw new Error(`version ${version.id} has no ready snapshot (status ${version.status})`);
  const dest = args.values.output ?? `${version.projectId}-${version.id}.zip`;
  const bar = progressBar(`pull ${basename(dest)}`);
  const got = await client.download(version.snapshot.artifactId, dest, {
    signal,
    onProgress: (p) => bar.update(p.receivedBytes, p.totalBytes),
  });
  bar.finish();
  out.result({ version, ...got }, () => `saved ${got.path} (${formatBytes(got.sizeBytes)}, sha256 ${got.sha256} verified)`);
}
