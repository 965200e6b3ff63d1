import { act, type CofferClient, type RouterOutputs } from './api.ts';
import { formatBytes, h, table, time } from './dom.ts';

type Usage = RouterOutputs['storage']['usage'];

const usd = (n: number) => `$${n < 0.01 && n > 0 ? n.toFixed(6) : n.toFixed(2)}`;

/** storage.usage(): what the tenant stores and what that is estimated to cost per month. */
export function mountUsage(root: HTMLElement, client: CofferClient): () => void {
  const body = h('div', { class: 'usage' }, h('p', {}, 'Loading…'));
  const refresh = h('button', { type: 'button' }, 'Refresh');
  const load = async () => body.replaceChildren(...usageContent(await client.storage.usage.query()));
  refresh.addEventListener('click', () => void act(refresh, load));
  root.append(h('div', { class: 'panel-head' }, h('h2', {}, 'Usage and cost'), refresh), body);
  void act(null, load);
  return () => {};
}

function usageContent(u: Usage): Node[] {
  const e = u.estimate;
  const summary = h(
    'dl',
    { class: 'summary' },
    ...pair('Stored', `${formatBytes(u.total.bytes)} in ${u.total.objects} ${u.total.objects === 1 ? 'object' : 'objects'}`),
    ...pair(
      'Estimated monthly cost',
      `${usd(e.totalUsd)} (storage ${usd(e.storageUsd)}, class A ${usd(e.classAUsd)}, class B ${usd(e.classBUsd)}, egress ${usd(e.egressUsd)})`,
    ),
    ...pair('Quota', quotaLine(u.quota)),
    ...pair('Operations, last 30 days', `${u.operations.classA} class A, ${u.operations.classB} class B`),
    ...pair('As of', time(u.asOf)),
  );
  const alert = u.alert.exceeded
    ? h('p', { class: 'error' }, `The estimate is above the alert threshold of ${usd(u.alert.thresholdUsd)}.`)
    : null;
  const byKind = table('By kind', ['Kind', 'Objects', 'Size']);
  byKind.body.append(
    ...u.byKind.map((k) =>
      h('tr', {}, h('td', {}, k.kind), h('td', { class: 'num' }, k.objects), h('td', { class: 'num' }, formatBytes(k.bytes))),
    ),
  );
  const byProject = table('By project', ['Project', 'Objects', 'Size']);
  byProject.body.append(
    ...u.byProject.map((p) =>
      h('tr', {}, h('td', {}, p.projectId), h('td', { class: 'num' }, p.objects), h('td', { class: 'num' }, formatBytes(p.bytes))),
    ),
  );
  const method = h('p', { class: 'hint' }, `How operations are counted: ${u.operations.method}`);
  return [summary, ...(alert ? [alert] : []), byKind.table, byProject.table, method];
}

/** Pending uploads count: they reserve their size. */
function quotaLine(q: Usage['quota']): string {
  const bytes =
    q.bytes === null
      ? 'no byte limit'
      : `${formatBytes(q.used.bytes)} of ${formatBytes(q.bytes)} (${formatBytes(q.remaining.bytes!)} left)`;
  const objects = q.objects === null ? 'no object limit' : `${q.used.objects} of ${q.objects} objects`;
  return `${bytes}; ${objects}; uploads in progress included`;
}

const pair = (term: string, value: string | Node) => [h('dt', {}, term), h('dd', {}, value)];
