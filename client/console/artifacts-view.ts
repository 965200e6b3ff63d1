import { ARTIFACT_STATUSES, DEFAULT_KINDS } from '../../shared/constants.ts';
import type { CofferEvent } from '../../shared/schemas/events.ts';
import { act, type CofferClient, isNotFound, type RouterOutputs } from './api.ts';
import { confirmAction } from './dialog.ts';
import { badge, formatBytes, h, sha, table, time } from './dom.ts';
import { downloadArtifact, type Live } from './live.ts';

type Artifact = RouterOutputs['artifact']['getInfo'];
type Filter = { kind?: string; entityType?: string; entityId?: string; status?: Artifact['status'] };

const COLUMNS = ['Created', 'Kind', 'Entity', 'Size', 'SHA-256', 'Status', 'Actions'];

/** The tenant's artifacts, newest first, a page at a time; rows follow artifact events live. */
export function mountArtifacts(root: HTMLElement, client: CofferClient, live: Live): () => void {
  const { table: el, body } = table('Artifacts, newest first', COLUMNS);
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const rows = new Map<string, HTMLTableRowElement>();
  let filter: Filter = {};
  let cursor: string | null = null;

  const render = (a: Artifact) => {
    const tr = artifactRow(client, a, () => removeRow(a.id));
    rows.get(a.id)?.replaceWith(tr);
    rows.set(a.id, tr);
    return tr;
  };
  const empty = h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length }, 'No artifacts match.'));
  const removeRow = (id: string) => {
    rows.get(id)?.remove();
    rows.delete(id);
    if (rows.size === 0) body.append(empty);
  };

  let loads = 0;
  const load = async (reset: boolean) => {
    const mine = ++loads;
    const page = await client.artifact.list.query({ ...filter, cursor: reset ? undefined : (cursor ?? undefined) });
    if (mine !== loads) return; // a newer filter was applied meanwhile: its page wins
    if (reset) {
      body.replaceChildren();
      rows.clear();
    }
    body.append(...page.items.map(render));
    if (rows.size === 0) body.append(empty);
    cursor = page.nextCursor;
    more.hidden = cursor === null;
  };

  /** An event names an artifact: show its new state, or add it on top when it now matches. */
  const onEvent = async (e: CofferEvent) => {
    const id = e.artifactId;
    // version_created names its snapshot artifact while it is still pending.
    if (!id || !(e.type.startsWith('artifact_') || e.type === 'version_created')) return;
    if (e.type === 'artifact_deleted') return void removeRow(id);
    const a = await client.artifact.getInfo.query({ id }).catch((err) => {
      if (isNotFound(err)) return null;
      throw err;
    });
    if (!a) return removeRow(id);
    if (rows.has(id)) render(a);
    else if (matches(a, filter)) {
      empty.remove();
      body.prepend(render(a));
    }
  };

  const form = filterForm((f) => {
    filter = f;
    void act(null, () => load(true));
  });
  more.addEventListener('click', () => void act(more, () => load(false)));
  root.append(h('h2', {}, 'Artifacts'), form, el, more);
  void act(null, () => load(true));
  return live.on((e) => void act(null, () => onEvent(e)));
}

function matches(a: Artifact, f: Filter): boolean {
  return (
    (!f.kind || a.kind === f.kind) &&
    (!f.entityType || a.entityType === f.entityType) &&
    (!f.entityId || a.entityId === f.entityId) &&
    (!f.status || a.status === f.status)
  );
}

function filterForm(apply: (f: Filter) => void): HTMLFormElement {
  const field = (name: string, label: string, input: HTMLElement) =>
    h('div', { class: 'field' }, h('label', { for: `filter-${name}` }, label), input);
  const text = (name: string, extra: Record<string, string> = {}) => h('input', { id: `filter-${name}`, name, type: 'text', ...extra });
  const status = h(
    'select',
    { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'any'),
    ...ARTIFACT_STATUSES.map((s) => h('option', { value: s }, s)),
  );
  const kinds = h('datalist', { id: 'kinds' }, ...DEFAULT_KINDS.map((k) => h('option', { value: k })));
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter artifacts' },
    field('kind', 'Kind', text('kind', { list: 'kinds' })),
    kinds,
    field('entityType', 'Entity type', text('entityType')),
    field('entityId', 'Entity id', text('entityId')),
    field('status', 'Status', status),
    h('button', { type: 'submit' }, 'Apply'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const get = (k: string) => String(data.get(k) ?? '').trim() || undefined;
    apply({ kind: get('kind'), entityType: get('entityType'), entityId: get('entityId'), status: get('status') as Filter['status'] });
  });
  return form;
}

function artifactRow(client: CofferClient, a: Artifact, onDeleted: () => void): HTMLTableRowElement {
  const actions = h('td', { class: 'actions' });
  if (a.status === 'ready') {
    const dl = h('button', { type: 'button' }, 'Download');
    dl.addEventListener('click', () => void act(dl, () => downloadArtifact(client, a.id)));
    actions.append(dl);
  }
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
  del.addEventListener('click', () => void act(del, () => deleteArtifact(client, a, onDeleted)));
  actions.append(del);
  const entity = a.entityType || a.entityId ? `${a.entityType ?? '?'} / ${a.entityId ?? '?'}` : '—';
  return h(
    'tr',
    { 'data-artifact-id': a.id },
    h('td', {}, time(a.createdAt)),
    h('td', {}, a.kind),
    h('td', {}, entity),
    h('td', { class: 'num' }, formatBytes(a.sizeBytes)),
    h('td', {}, sha(a.sha256)),
    h('td', { title: a.failureReason ?? '' }, badge(a.status)),
    actions,
  );
}

async function deleteArtifact(client: CofferClient, a: Artifact, onDeleted: () => void): Promise<void> {
  const ok = await confirmAction({
    title: 'Delete artifact?',
    text: `The ${a.kind} artifact ${a.id} (${formatBytes(a.sizeBytes)}) and its bytes are removed for good.`,
    confirm: 'Delete',
  });
  if (!ok) return;
  await client.artifact.delete.mutate({ id: a.id });
  onDeleted();
}
