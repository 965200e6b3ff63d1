import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';

/** Regular files and directories under `root`, sorted, so the same tree zips to the same entries. Symlinks are skipped: following them could archive files outside the directory. */
async function walk(root: string, dir = root, out: Array<{ path: string; name: string; dir: boolean }> = []) {
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    const name = relative(root, path).split(sep).join('/');
    if (entry.isDirectory()) {
      out.push({ path, name, dir: true });
      await walk(root, path, out);
    } else if (entry.isFile()) {
      out.push({ path, name, dir: false });
    }
  }
  return out;
}

/**
 * Zips a directory into a private file, streaming: yazl reads each file only when its entry is
 * written, and the archive goes straight to disk, so no archive (or file) is ever held whole in
 * memory. The same tree (names, sizes, times, modes) always zips to the same bytes.
 *
 * With `keepIn` (push --resume) the zip is named after the tree and kept until `dispose`: an
 * interrupted push of an unchanged tree finds it again and resumes its upload; a changed tree
 * gets a new zip, so stale bytes are never resumed.
 */
export async function zipDirectory(
  root: string,
  signal?: AbortSignal,
  opts: { keepIn?: string } = {},
): Promise<{ path: string; files: number; dispose: () => Promise<void> }> {
  const entries = await Promise.all((await walk(root)).map(async (e) => ({ ...e, stat: await lstat(e.path) })));
  const files = entries.filter((e) => !e.dir).length;
  const dir = opts.keepIn ?? (await mkdtemp(join(tmpdir(), 'coffer-push-')));
  const path = opts.keepIn ? join(dir, `push-${treeHash(await realpath(root), entries)}.zip`) : join(dir, 'snapshot.zip');
  const dispose = () => rm(opts.keepIn ? path : dir, { recursive: true, force: true });
  if (opts.keepIn && (await stat(path).catch(() => null))) return { path, files, dispose };
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const zip = new yazl.ZipFile();
    for (const e of entries) {
      const { mode, mtime } = e.stat;
      if (e.dir) zip.addEmptyDirectory(e.name, { mtime, mode });
      else zip.addFile(e.path, e.name, { mode, mtime });
    }
    zip.end();
    const partial = `${path}.${process.pid}.tmp`;
    await pipeline(zip.outputStream, createWriteStream(partial, { mode: 0o600 }), { signal });
    await rename(partial, path);
    return { path, files, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

function treeHash(
  root: string,
  entries: Array<{ name: string; dir: boolean; stat: { size: number; mtimeMs: number; mode: number } }>,
): string {
  const manifest = entries.map((e) => [e.name, e.dir, e.stat.size, e.stat.mtimeMs, e.stat.mode]);
  return createHash('sha256')
    .update(JSON.stringify([root, manifest]))
    .digest('hex')
    .slice(0, 32);
}
