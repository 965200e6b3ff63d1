/**
 * REST under /api/v1: each route names the tRPC procedure it calls, so REST and tRPC share one
 * set of schemas, services, middlewares (keys, scopes, rate limits) and error mapping.
 */
export interface RestRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** Fastify syntax, relative to /api/v1. */
  path: string;
  /** `router.procedure` in appRouter. */
  procedure: string;
  summary: string;
}

export const REST_ROUTES: readonly RestRoute[] = [
  { method: 'POST', path: '/artifacts', procedure: 'artifact.put', summary: 'Store a JSON artifact' },
  { method: 'GET', path: '/artifacts', procedure: 'artifact.list', summary: 'List artifacts' },
  {
    method: 'GET',
    path: '/artifacts/:id',
    procedure: 'artifact.get',
    summary: 'A JSON artifact and its payload; with ?raw=1, a redirect to its bytes (artifact.getDownloadUrl)',
  },
  { method: 'GET', path: '/artifacts/:id/info', procedure: 'artifact.getInfo', summary: 'Artifact metadata' },
  { method: 'DELETE', path: '/artifacts/:id', procedure: 'artifact.delete', summary: 'Delete an artifact' },
  { method: 'POST', path: '/uploads', procedure: 'artifact.createUpload', summary: 'Start an upload' },
  { method: 'GET', path: '/uploads/:id', procedure: 'artifact.getUpload', summary: 'The parts that have landed' },
  { method: 'POST', path: '/uploads/:id/sign-parts', procedure: 'artifact.signParts', summary: 'Signed PUTs for parts' },
  { method: 'POST', path: '/uploads/:id/complete', procedure: 'artifact.completeUpload', summary: 'Complete an upload' },
  { method: 'POST', path: '/uploads/:id/abort', procedure: 'artifact.abortUpload', summary: 'Abort an upload' },
  { method: 'POST', path: '/versions', procedure: 'version.create', summary: 'Create a version' },
  { method: 'GET', path: '/projects/:projectId/versions', procedure: 'version.list', summary: "A project's versions" },
  { method: 'GET', path: '/projects/:projectId/export', procedure: 'version.exportLatest', summary: 'The latest ready version' },
  { method: 'GET', path: '/versions/:versionId', procedure: 'version.get', summary: 'A version' },
  { method: 'GET', path: '/versions/:versionId/download', procedure: 'version.download', summary: "A version's snapshot URL" },
  { method: 'POST', path: '/versions/:versionId/rollback', procedure: 'version.rollback', summary: 'Make a version current' },
  { method: 'POST', path: '/versions/:versionId/pin', procedure: 'version.pin', summary: 'Pin or unpin a version' },
  { method: 'GET', path: '/storage/health', procedure: 'storage.health', summary: 'Reachability and which settings are present' },
];
