import { DEFAULT_KINDS } from '../../shared/constants.ts';
import type { CofferClient } from './api.ts';
import { act } from './api.ts';
import { formatBytes, h } from './dom.ts';

/** The client's resume records (client/src/upload.ts localStorageResume), read to list interrupted uploads. */
const RECORD_PREFIX = 'coffer-upload:';

interface Interrupted {
  name: string;
  sizeBytes: number;
  savedAt: string;
}

/** Uploads this browser started and did not finish, from the records the client keeps in localStorage. */
function interruptedUploads(): Interrupted[] {
  const found: Interrupted[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key?.startsWith(RECORD_PREFIX)) continue;
    try {
      const record = JSON.parse(localStorage.getItem(key) ?? '') as { sizeBytes: number; savedAt: string };
      // The record's key ends in the File's `<name> <size> <lastModified>`.
      const name = /(?:^| )(?:artifact|version):\S+ (.+) \d+ \d+$/.exec(key.slice(RECORD_PREFIX.length))?.[1] ?? 'a file';
      found.push({ name, sizeBytes: record.sizeBytes, savedAt: record.savedAt });
    } catch {
      // Not one of ours, or damaged: nothing to offer.
    }
  }
  return found;
}

/**
 * Uploads a file straight to storage through the client's resumable upload: as an artifact of a
 * kind, or as a new version of a project. Progress and Cancel while it runs; after a reload (or a
 * lost connection) picking the same file again sends only the parts that did not land.
 */
export function mountUpload(root: HTMLElement, client: CofferClient): () => void {
  const file = h('input', { id: 'upload-file', type: 'file', required: true });
  const kind = h('input', { id: 'upload-kind', list: 'upload-kinds', value: 'attachment' });
  const kinds = h('datalist', { id: 'upload-kinds' }, ...DEFAULT_KINDS.map((k) => h('option', { value: k })));
  const project = h('input', { id: 'upload-project', placeholder: 'project id, e.g. site-1' });
  const asVersion = h('input', { id: 'upload-as-version', type: 'checkbox' });
  const start = h('button', { type: 'submit' }, 'Upload');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel');
  const bar = h('progress', { id: 'upload-progress', max: 1, value: 0, hidden: true });
  const status = h('p', { id: 'upload-status', role: 'status' });
  const pending = h('ul', { id: 'upload-interrupted', class: 'interrupted' });
  let running: AbortController | null = null;

  const showInterrupted = () => {
    const list = interruptedUploads();
    pending.replaceChildren(
      ...list.map((u) =>
        h('li', {}, `${u.name} (${formatBytes(u.sizeBytes)}), started ${new Date(u.savedAt).toLocaleString()}: pick it again to resume`),
      ),
    );
    pending.hidden = list.length === 0;
  };

  const upload = async () => {
    const chosen = file.files?.[0];
    if (!chosen) throw new Error('choose a file first');
    running = new AbortController();
    const { signal } = running;
    cancel.hidden = false;
    bar.hidden = false;
    bar.value = 0;
    status.textContent = `Uploading ${chosen.name}…`;
    const onProgress = (p: { sentBytes: number; totalBytes: number }) => {
      bar.value = p.totalBytes ? p.sentBytes / p.totalBytes : 1;
      status.textContent = `Uploading ${chosen.name}: ${formatBytes(p.sentBytes)} of ${formatBytes(p.totalBytes)}`;
    };
    try {
      if (asVersion.checked) {
        const projectId = project.value.trim();
        if (!projectId) throw new Error('name the project the version belongs to');
        const { version } = await client.upload(chosen, { version: { projectId, source: 'manual' }, resume: true, signal, onProgress });
        status.textContent = `Uploaded ${chosen.name} as version ${version.id} of ${projectId}.`;
      } else {
        const artifact = await client.upload(chosen, { kind: kind.value.trim(), filename: chosen.name, resume: true, signal, onProgress });
        status.textContent = `Uploaded ${chosen.name}: artifact ${artifact.id}, sha256 ${artifact.sha256}.`;
      }
    } catch (err) {
      status.textContent = signal.aborted ? `Cancelled: ${chosen.name} was not stored.` : `Stopped: pick ${chosen.name} again to resume.`;
      if (!signal.aborted) throw err;
    } finally {
      running = null;
      cancel.hidden = true;
      showInterrupted();
    }
  };

  const form = h(
    'form',
    { class: 'stack upload', 'aria-labelledby': 'upload-title' },
    h('label', { for: 'upload-file' }, 'File'),
    file,
    h('label', { for: 'upload-kind' }, 'Kind'),
    kind,
    kinds,
    h('label', { class: 'inline' }, asVersion, ' As a new version of a project'),
    h('label', { for: 'upload-project' }, 'Project'),
    project,
    h('div', { class: 'actions' }, start, cancel),
    bar,
    status,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(start, upload);
  });
  cancel.addEventListener('click', () => running?.abort(new DOMException('cancelled', 'AbortError')));
  // Drop a file anywhere on the form.
  form.addEventListener('dragover', (ev) => ev.preventDefault());
  form.addEventListener('drop', (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer?.files.length) file.files = ev.dataTransfer.files;
  });
  root.append(h('div', { class: 'panel-head' }, h('h2', { id: 'upload-title' }, 'Upload')), form, pending);
  showInterrupted();
  // Leaving the view does not stop an upload: it goes on, and its outcome shows in the live feed.
  return () => {};
}
