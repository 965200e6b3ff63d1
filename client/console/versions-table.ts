import { act, type CofferClient, type RouterOutputs } from './api.ts';
import { confirmAction } from './dialog.ts';
import { badge, formatBytes, h, table, time } from './dom.ts';
import { downloadVersion } from './live.ts';

export type Version = RouterOutputs['version']['get'];
export type VersionsTable = ReturnType<typeof versionsTable>;

/** No SHA-256 here: the artifacts view has it, and the actions need the width. */
const COLUMNS = ['Created', 'Prompt / message', 'Source', 'Status', 'Size', 'Flags', 'Actions'];

/** A project's versions as table rows keyed by id, so live events and actions replace one row at a time. */
export function versionsTable(client: CofferClient, projectId: string) {
  const { table: el, body } = table(`Versions of ${projectId}, newest first`, COLUMNS);
  const rows = new Map<string, { v: Version; tr: HTMLTableRowElement }>();
  const empty = h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length }, 'No versions yet.'));
  body.append(empty);

  const self = {
    el,
    has: (id: string) => rows.has(id),
    put(v: Version, where: 'append' | 'prepend' = 'append') {
      const tr = versionRow(client, v, self);
      const old = rows.get(v.id);
      rows.set(v.id, { v, tr });
      empty.remove();
      if (old) old.tr.replaceWith(tr);
      else body[where](tr);
    },
    /** A project has one current and one latest version: moving the flag to `id` clears it elsewhere. */
    moveFlag(flag: 'isCurrent' | 'isLatest', id: string) {
      for (const { v } of [...rows.values()]) if (v[flag] !== (v.id === id)) self.put({ ...v, [flag]: v.id === id });
    },
  };
  return self;
}

function versionRow(client: CofferClient, v: Version, rows: Pick<VersionsTable, 'put' | 'moveFlag'>): HTMLTableRowElement {
  const button = (label: string, run: () => Promise<unknown>, cls = '') => {
    const b = h('button', { type: 'button', class: cls }, label);
    b.addEventListener('click', () => void act(b, run));
    return b;
  };
  const ready = v.status === 'ready';
  // A version without a usable snapshot can be built again by a worker listening for rebuild requests.
  const rebuildable = (v.status === 'no_snapshot' || v.status === 'failed') && !v.rebuildRequestedAt;
  const togglePin = async () => rows.put(await client.version.pin.mutate({ versionId: v.id, pinned: !v.pinned }));
  const rebuild = async () => rows.put((await client.version.requestRebuild.mutate({ versionId: v.id })).version);
  const actions = h(
    'td',
    { class: 'actions' },
    ready && button('Download', () => downloadVersion(client, v.id)),
    ready && !v.isCurrent && button('Roll back', () => rollback(client, v, rows), 'danger'),
    rebuildable && button('Rebuild', rebuild),
    button(v.pinned ? 'Unpin' : 'Pin', togglePin),
  );
  return h(
    'tr',
    { 'data-version-id': v.id, 'data-status': v.status },
    h('td', {}, time(v.createdAt)),
    h('td', { class: 'prompt' }, v.prompt ?? v.message ?? '—'),
    h('td', {}, v.source),
    h('td', {}, badge(v.status)),
    h('td', { class: 'num' }, v.snapshot ? formatBytes(v.snapshot.sizeBytes) : '—'),
    h(
      'td',
      { class: 'flags' },
      v.isCurrent && badge('current'),
      v.isLatest && badge('latest'),
      v.pinned && badge('pinned'),
      v.rebuildRequestedAt && badge('rebuild requested'),
    ),
    actions,
  );
}

async function rollback(client: CofferClient, v: Version, rows: Pick<VersionsTable, 'put' | 'moveFlag'>): Promise<void> {
  const ok = await confirmAction({
    title: 'Roll back?',
    text: `Version ${v.id} of ${v.projectId}, from ${v.createdAt.toLocaleString()}, becomes the project's current version.`,
    confirm: 'Roll back',
  });
  if (!ok) return;
  const { version } = await client.version.rollback.mutate({ versionId: v.id });
  rows.put(version);
  rows.moveFlag('isCurrent', version.id);
}
