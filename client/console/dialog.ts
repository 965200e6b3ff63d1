import { byId } from './dom.ts';

/**
 * Asks before an action that destroys something or changes a project's current version.
 * A real modal <dialog> rather than window.confirm: it is styled like the page, traps focus
 * natively, closes on Escape (as "cancel"), and a browser test can click its buttons.
 */
export function confirmAction(opts: { title: string; text: string; confirm: string }): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm');
  byId('confirm-title').textContent = opts.title;
  byId('confirm-text').textContent = opts.text;
  byId('confirm-ok').textContent = opts.confirm;
  dialog.returnValue = 'cancel';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}
