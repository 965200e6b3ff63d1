import type { CofferEvent } from '../../shared/schemas/events.ts';
import { act, type CofferClient, isNotFound, startDownload } from './api.ts';
import { h } from './dom.ts';
import type { Live } from './live.ts';
import { type VersionsTable, versionsTable } from './versions-table.ts';

const projectHref = (id: string) => `#projects/${encodeURIComponent(id)}`;

/** Projects by id on the left, the chosen one's versions on the right; `selected` comes from the URL. */
export function mountProjects(root: HTMLElement, client: CofferClient, live: Live, selected?: string): () => void {
  const list = h('ul', { class: 'project-list' });
  const noProjects = h('li', { class: 'empty' }, 'No projects yet.');
  const more = h('button', { type: 'button', hidden: true }, 'More projects');
  const known = new Set<string>();
  let cursor: string | null = null;

  const addProject = (id: string) => {
    if (known.has(id)) return;
    known.add(id);
    noProjects.remove();
    list.append(h('li', {}, h('a', { href: projectHref(id), 'aria-current': id === selected ? 'page' : undefined }, id)));
  };
  const loadProjects = async () => {
    const page = await client.version.listProjects.query({ cursor: cursor ?? undefined });
    for (const p of page.items) addProject(p.id);
    cursor = page.nextCursor;
    more.hidden = cursor === null;
    if (known.size === 0) list.append(noProjects);
  };
  more.addEventListener('click', () => void act(more, loadProjects));

  const panel = h('section', { class: 'project-panel' });
  const versions = selected ? projectPanel(panel, client, selected) : null;
  if (!selected) panel.append(h('p', { class: 'hint' }, 'Choose a project to see its versions.'));
  root.append(h('h2', {}, 'Projects'), h('div', { class: 'split' }, h('nav', { 'aria-label': 'Projects' }, list, more), panel));
  void act(null, loadProjects);

  return live.on((e) => {
    if (e.type === 'version_created' && e.projectId) addProject(e.projectId);
    if (versions && e.projectId === selected) void act(null, () => followVersion(client, versions, e));
  });
}

/** The chosen project: export, its versions a page at a time. Returns the table live events update. */
function projectPanel(panel: HTMLElement, client: CofferClient, projectId: string): VersionsTable {
  const versions = versionsTable(client, projectId);
  const more = h('button', { type: 'button', hidden: true }, 'More versions');
  const exportLatest = h('button', { type: 'button' }, 'Export latest');
  let cursor: string | null = null;
  const load = async () => {
    const page = await client.version.list.query({ projectId, cursor: cursor ?? undefined });
    for (const v of page.items) versions.put(v);
    cursor = page.nextCursor;
    more.hidden = cursor === null;
  };
  more.addEventListener('click', () => void act(more, load));
  exportLatest.addEventListener(
    'click',
    () =>
      void act(exportLatest, async () => {
        const d = await client.version.exportLatest.query({ projectId });
        if (!d.available) throw new Error(d.message);
        startDownload(d.downloadUrl, d.filename);
      }),
  );
  panel.append(h('div', { class: 'panel-head' }, h('h3', {}, projectId), exportLatest), versions.el, more);
  void act(null, load);
  return versions;
}

/** Applies one event of the shown project to its table: new rows on top, status and flags in place. */
async function followVersion(client: CofferClient, versions: VersionsTable, e: CofferEvent): Promise<void> {
  const id = e.versionId;
  if (!id) return;
  if (e.type === 'version_rolled_back') return versions.moveFlag('isCurrent', id);
  const changesRow =
    e.type === 'version_created' ||
    (versions.has(id) && ['version_ready', 'artifact_failed', 'artifact_uploaded', 'rebuild_requested'].includes(e.type));
  if (!changesRow) return;
  const v = await client.version.get.query({ versionId: id }).catch((err) => {
    if (isNotFound(err)) return null; // removed since: the next page load will not show it either
    throw err;
  });
  if (!v) return;
  versions.put(v, 'prepend');
  if (v.isLatest) versions.moveFlag('isLatest', v.id);
}
