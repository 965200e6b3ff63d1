/**
 * The Node entry point (`@coffer/client/node`). index.ts stays runtime-neutral so a browser
 * bundle of it never pulls in node:fs; everything that needs the filesystem, node:crypto or
 * node:os (uploads from paths and streams, downloads to disk) is reachable only from here.
 * It is the universal client plus those helpers, layered on with one more proxy.
 */

import { createRequire } from 'node:module';
import { type DownloadOptions, type DownloadResult, downloadArtifact } from './download.ts';
import { type CofferClient, type CofferClientOptions, createCofferClient as createUniversalClient } from './index.ts';
import { fileResumeStore, type NodeUploadSource, nodeDigests, prepareNodeSource } from './node-source.ts';
import { type UploadFn, uploadWith } from './upload.ts';

export { type DownloadOptions, type DownloadProgress, type DownloadResult, IntegrityError } from './download.ts';
export * from './index.ts';
export { fileResumeStore, type NodeUploadSource, nodeDigests, prepareNodeSource } from './node-source.ts';

export type NodeCofferClient = Omit<CofferClient, 'upload'> & {
  /**
   * Uploads a file path, Buffer/Uint8Array, Blob or Readable straight to storage and returns the
   * ready artifact. Parts are read once each, hashed in one ordered pass while they are sent (the
   * sha256 is declared at completion) and signed with their MD5 just before they go; bytes are
   * hashed first; streams are spooled to a temp file first (the size must be declared before the
   * first part is signed). With `{ resume: true }` an interrupted upload of the same file (path,
   * size and mtime) sends only its missing parts. With `{ version }` it creates a project
   * version with them as its snapshot.
   */
  upload: UploadFn<NodeUploadSource>;
  /** Downloads to `destination`, verified against the artifact's size and sha256. */
  download(id: string, destination: string, opts?: DownloadOptions): Promise<DownloadResult>;
};

export interface NodeClientOptions extends CofferClientOptions {
  /** Where resume records of uploads in progress live (default: ~/.cache/coffer/uploads). */
  resumeDir?: string;
}

/** Adds the Node helpers to a client made by index.ts's createCofferClient. */
export function withNodeHelpers(client: CofferClient, opts: Pick<NodeClientOptions, 'url' | 'resumeDir'>): NodeCofferClient {
  const helpers = {
    upload: uploadWith(client, prepareNodeSource, {
      digests: nodeDigests,
      resumeStore: () => fileResumeStore(opts.resumeDir),
      scope: opts.url.replace(/\/+$/, ''),
    }),
    download: (id: string, destination: string, opts?: DownloadOptions) => downloadArtifact(client, id, destination, opts),
  };
  return new Proxy(helpers, {
    get: (target, prop) => (prop in target ? target[prop as keyof typeof target] : (client as never)[prop]),
  }) as unknown as NodeCofferClient;
}

/**
 * Node 22 and later have a global WebSocket (undici's), which is used as it is. Node 20 has none:
 * there `ws` (a dependency) stands in, loaded only then, so subscriptions work without options.
 */
export function createCofferClient(opts: NodeClientOptions): NodeCofferClient {
  const WebSocket = opts.WebSocket ?? globalThis.WebSocket ?? loadWs();
  return withNodeHelpers(createUniversalClient({ ...opts, WebSocket }), opts);
}

function loadWs(): typeof globalThis.WebSocket {
  return createRequire(import.meta.url)('ws') as typeof globalThis.WebSocket;
}
