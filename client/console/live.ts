import type { CofferEvent } from '../../shared/schemas/events.ts';
import { act, type CofferClient, errorMessage, isAuthError, startDownload } from './api.ts';
import { byId, formatBytes, h, time } from './dom.ts';

type Listener = (e: CofferEvent) => void;

/** The tenant's event stream, fanned out to whichever view is mounted. */
export interface Live {
  on(listener: Listener): () => void;
  stop(): void;
}

const FEED_MAX = 100;

/**
 * Reads the resume point first (which also proves the key works: sign-in fails here), then
 * streams from it until signed out. `client.events` already resumes across dropped sockets and
 * retries server-side ends; this loop restarts it after anything else (a completed stream, an
 * error it gave up on) from the last event shown, backing off, so the feed never skips or
 * repeats one. Only a refused key stops it: retrying cannot fix that.
 */
export async function startLive(client: CofferClient): Promise<Live> {
  let lastEventId = (await client.artifact.eventCursor.query()).lastEventId;
  const listeners = new Set<Listener>();
  const stop = new AbortController();
  const dispatch = (e: CofferEvent) => {
    lastEventId = String(e.id);
    addToFeed(e);
    notify(client, e);
    for (const l of listeners) l(e);
  };
  void (async () => {
    for (let attempt = 0; !stop.signal.aborted; attempt++) {
      setStatus('Live', 'ok');
      try {
        for await (const e of client.events({ lastEventId }, { signal: stop.signal })) {
          attempt = 0;
          dispatch(e);
        }
      } catch (err) {
        if (stop.signal.aborted) break;
        if (isAuthError(err)) return setStatus(`Stopped: ${errorMessage(err)}`, 'warn');
        setStatus(`Reconnecting (${errorMessage(err)})`, 'warn');
      }
      await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** attempt)));
    }
  })();
  return {
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => stop.abort(),
  };
}

function setStatus(text: string, tone: 'ok' | 'warn'): void {
  const el = byId('live-status');
  el.textContent = text;
  el.className = `live-status live-${tone}`;
  el.hidden = false;
}

export function describeEvent(e: CofferEvent): string {
  const project = e.projectId ? `Project ${e.projectId}` : '';
  switch (e.type) {
    case 'artifact_uploaded':
      return `${e.data.kind} ready (${formatBytes(e.data.sizeBytes)})`;
    case 'artifact_failed':
      return `${e.data.kind} failed: ${e.data.reason}`;
    case 'artifact_size_warning':
      return `${e.data.kind} is large: ${e.data.suggestion}`;
    case 'artifact_deleted':
      return `${e.data.kind} deleted`;
    case 'version_created':
      return `${project}: new version (${e.data.source})`;
    case 'version_ready':
      return `${project}: version ready (${formatBytes(e.data.sizeBytes)})`;
    case 'version_rolled_back':
      return `${project}: rolled back`;
    case 'rebuild_requested':
      return `${project}: rebuild requested`;
    case 'cleanup_completed':
      return `Cleanup ${e.data.job}: ${e.data.deleted} deleted, ${formatBytes(e.data.bytesFreed)} freed`;
  }
}

function addToFeed(e: CofferEvent): void {
  const feed = byId('feed');
  feed.prepend(h('li', { class: `event event-${e.type}` }, time(e.createdAt, true), ' ', describeEvent(e)));
  while (feed.children.length > FEED_MAX) feed.lastElementChild?.remove();
}

/** Toasts for what a user waits on: a snapshot or an artifact becoming downloadable, or failing. */
function notify(client: CofferClient, e: CofferEvent): void {
  const { versionId, artifactId } = e;
  if (e.type === 'version_ready' && versionId) {
    toast(`Project ${e.projectId} backup ready`, 'ok', { label: 'Download', run: () => downloadVersion(client, versionId) });
  } else if (e.type === 'artifact_failed') {
    toast(versionId ? `Project ${e.projectId} backup failed: ${e.data.reason}` : `${e.data.kind} upload failed: ${e.data.reason}`, 'error');
  } else if (e.type === 'artifact_uploaded' && !versionId && artifactId && e.data.downloadReady) {
    toast(`${e.data.kind} ready`, 'ok', { label: 'Download', run: () => downloadArtifact(client, artifactId) });
  }
}

export async function downloadArtifact(client: CofferClient, id: string): Promise<void> {
  const { url, filename } = await client.artifact.getDownloadUrl.query({ id });
  startDownload(url, filename);
}

/** A version that is not ready answers `available: false` with a message instead of an error. */
export async function downloadVersion(client: CofferClient, versionId: string): Promise<void> {
  const d = await client.version.download.query({ versionId });
  if (!d.available) throw new Error(d.message);
  startDownload(d.downloadUrl, d.filename);
}

const TOAST_MAX = 4;
const TOAST_MS = 15_000;

/** Lingers while hovered or focused, so a keyboard user can still reach its button. */
export function toast(text: string, tone: 'ok' | 'error', action?: { label: string; run: () => Promise<void> }): void {
  const box = byId('toasts');
  const el = h('div', { class: `toast toast-${tone}` }, h('span', {}, text));
  if (action) {
    const button = h('button', { type: 'button' }, action.label);
    button.addEventListener('click', () => void act(button, action.run));
    el.append(' — ', button);
  }
  el.append(h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss', onclick: () => el.remove() }, '×'));
  box.append(el);
  while (box.children.length > TOAST_MAX) box.firstElementChild?.remove();
  const expire = () => {
    if (el.matches(':hover') || el.contains(document.activeElement)) setTimeout(expire, 3000);
    else el.remove();
  };
  setTimeout(expire, TOAST_MS);
}
