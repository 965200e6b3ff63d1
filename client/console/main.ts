/**
 * The Coffer console: a browser client of the client package, served by Coffer at /console.
 * It lives in client/ rather than server/ because it is a client like any other frontend: it
 * reaches the server only through `createCofferClient` (fetch + WebSocket + superjson), and the
 * server merely serves its built files (server/http/console.ts).
 */
import { act, type CofferClient, clearError, connect, showError, storedKey, storeKey } from './api.ts';
import { mountArtifacts } from './artifacts-view.ts';
import { byId } from './dom.ts';
import { type Live, startLive } from './live.ts';
import { mountProjects } from './projects-view.ts';
import { mountUpload } from './upload-view.ts';
import { mountUsage } from './usage-view.ts';

interface Session {
  client: CofferClient;
  live: Live;
  unmount: () => void;
}

let session: Session | null = null;

async function signIn(key: string): Promise<void> {
  const client = connect(key);
  try {
    const live = await startLive(client); // the first call: a bad key fails here
    session = { client, live, unmount: () => {} };
  } catch (err) {
    await client.close();
    storeKey(null);
    throw err;
  }
  storeKey(key);
  showSignedIn(true);
  route();
}

async function signOut(): Promise<void> {
  session?.unmount();
  session?.live.stop();
  await session?.client.close();
  session = null;
  storeKey(null);
  byId('feed').replaceChildren();
  byId('view').replaceChildren();
  showSignedIn(false);
}

function showSignedIn(signedIn: boolean): void {
  byId('sign-in').hidden = signedIn;
  byId('workspace').hidden = !signedIn;
  byId('nav').hidden = !signedIn;
  byId('sign-out').hidden = !signedIn;
  byId('live-status').hidden = !signedIn;
  if (!signedIn) byId<HTMLInputElement>('api-key').focus();
}

/** `#artifacts`, `#projects`, `#projects/<id>`, `#upload`, `#usage`: views are links, so Back and bookmarks work. */
function route(): void {
  if (!session) return;
  const [name = 'artifacts', arg] = location.hash.slice(1).split('/');
  const view = byId('view');
  session.unmount();
  view.replaceChildren();
  clearError();
  const { client, live } = session;
  if (name === 'projects') session.unmount = mountProjects(view, client, live, arg ? decodeURIComponent(arg) : undefined);
  else if (name === 'usage') session.unmount = mountUsage(view, client);
  else if (name === 'upload') session.unmount = mountUpload(view, client);
  else session.unmount = mountArtifacts(view, client, live);
  byId('nav')
    .querySelectorAll('a')
    .forEach((a) => {
      if (a.getAttribute('href') === `#${name}`) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
}

function init(): void {
  const form = byId<HTMLFormElement>('sign-in-form');
  const input = byId<HTMLInputElement>('api-key');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(form.querySelector('button'), () => signIn(input.value.trim()));
    input.value = '';
  });
  byId('sign-out').addEventListener('click', () => void signOut());
  window.addEventListener('hashchange', route);
  const key = storedKey();
  if (key) void signIn(key).catch(showError);
  else showSignedIn(false);
}

init();
