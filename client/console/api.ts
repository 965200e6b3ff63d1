import { TRPCClientError } from '@trpc/client';
import { describeZodError, type FlatZodError } from '../../shared/zod-issues.ts';
// The client's source entry, as test/support does: the console is bundled from the same
// browser-safe code the package ships, whatever its build step produces for npm.
import { type CofferClient, createCofferClient } from '../src/index.ts';
import { byId } from './dom.ts';

export type { CofferClient, RouterOutputs } from '../src/index.ts';

const KEY = 'coffer.apiKey';

/** sessionStorage, not localStorage: the key leaves with the tab instead of lingering on disk. */
export const storedKey = () => sessionStorage.getItem(KEY);
export const storeKey = (key: string | null) => (key ? sessionStorage.setItem(KEY, key) : sessionStorage.removeItem(KEY));

/** Same origin only: the console never sends the key anywhere but the server that served it. */
export const connect = (token: string): CofferClient => createCofferClient({ url: location.origin, token });

/**
 * The API's own message (it says what to fix). For refused input, tRPC's message is the raw
 * issue list, so the server's flattened zod errors read better: "kind: Too big: …".
 */
export function errorMessage(err: unknown): string {
  if (!(err instanceof TRPCClientError)) return err instanceof Error ? err.message : String(err);
  const zod = (err.data as { zodError?: FlatZodError | null } | undefined)?.zodError;
  if (!zod) return err.message || 'request failed';
  return describeZodError(zod).join('. ') || err.message;
}

const codeOf = (err: unknown) => (err instanceof TRPCClientError ? (err.data as { code?: string } | undefined)?.code : undefined);

/** Live updates fetch what an event names; it may be gone by then (deleted, or another tenant's URL). */
export const isNotFound = (err: unknown) => codeOf(err) === 'NOT_FOUND';
/** The key was revoked or lacks a scope: no retry will help. */
export const isAuthError = (err: unknown) => codeOf(err) === 'UNAUTHORIZED' || codeOf(err) === 'FORBIDDEN';

export function showError(err: unknown): void {
  const el = byId('error');
  el.textContent = errorMessage(err);
  el.hidden = false;
}

export function clearError(): void {
  byId('error').hidden = true;
}

/** Runs a button's action with the button disabled, showing any failure in the alert region. */
export async function act(button: HTMLButtonElement | null, fn: () => Promise<unknown>): Promise<void> {
  if (button) button.disabled = true;
  clearError();
  try {
    await fn();
  } catch (err) {
    showError(err);
  } finally {
    if (button) button.disabled = false;
  }
}

/**
 * Starts a download of a signed URL. A navigation, not a fetch, so the CSP's connect-src need
 * not list the storage origin; the URL answers `Content-Disposition: attachment`, so the page
 * stays where it is. `download` names the file where the URL is same-origin (the disk backend).
 */
export function startDownload(url: string, filename: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}
