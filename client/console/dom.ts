/**
 * A tiny element builder. Text always goes in as text nodes, never as HTML: artifact metadata,
 * prompts and project ids come from API callers, so nothing here may parse them as markup.
 */
type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | undefined | null | ((e: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else if (value !== false && value != null) el.setAttribute(name, String(value));
  }
  el.append(
    ...children
      .filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false)
      .map((c) => (typeof c === 'number' ? String(c) : c)),
  );
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let i = 0;
  for (; n >= 1024 && i < UNITS.length - 1; i++) n /= 1024;
  return `${i === 0 ? n : n.toFixed(1)} ${UNITS[i]}`;
}

const DATE_TIME: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' };
const TIME: Intl.DateTimeFormatOptions = { timeStyle: 'medium' };

/** Compact local time; the exact instant stays in `datetime` and the tooltip. `clock` drops the date (the feed). */
export const time = (d: Date, clock = false) =>
  h('time', { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString(undefined, clock ? TIME : DATE_TIME));

/** The first 12 hex digits, with the full hash in a tooltip and for screen readers' "describe". */
export const sha = (s: string) => h('code', { title: s, class: 'sha' }, s.slice(0, 12));

export const badge = (text: string, kind = text) => h('span', { class: `badge badge-${kind}` }, text);

/** Right-aligned like their cells. */
const NUMERIC = new Set(['Size', 'Objects']);

/**
 * A table with a caption (its accessible name), header cells and a body the caller fills, in a
 * wrapper that scrolls sideways on narrow screens instead of pushing the whole page wider.
 */
export function table(caption: string, headers: string[]): { table: HTMLElement; body: HTMLTableSectionElement } {
  const body = h('tbody');
  const th = (t: string) => h('th', { scope: 'col', class: NUMERIC.has(t) ? 'num' : undefined }, t);
  const el = h('table', {}, h('caption', {}, caption), h('thead', {}, h('tr', {}, ...headers.map(th))), body);
  return { table: h('div', { class: 'table-scroll' }, el), body };
}
