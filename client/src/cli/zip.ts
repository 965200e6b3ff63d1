import { createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
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
 * Zips a directory into a private temp file, streaming: yazl reads each file only when its
 * entry is written, and the archive goes straight to disk, so no archive (or file) is ever
 * held whole in memory. The caller uploads the file (size and sha256 must be known up front)
 * and then calls `dispose`.
 */
export async function zipDirectory(
  root: string,
  signal?: AbortSignal,
): Promise<{ path: string; files: number; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-push-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const zip = new yazl.ZipFile();
    let files = 0;
    for (const e of await walk(root)) {
      if (e.dir) zip.addEmptyDirectory(e.name);
      else {
        const { mode, mtime } = await lstat(e.path);
        zip.addFile(e.path, e.name, { mode, mtime });
        files++;
      }
    }
    const path = join(dir, 'snapshot.zip');
    zip.end();
    await pipeline(zip.outputStream, createWriteStream(path, { mode: 0o600 }), { signal });
    return { path, files, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
