/** Just the part of @20minutes/s3rver (untyped, CommonJS) that test/support/s3-server.ts uses. */
declare module '@20minutes/s3rver' {
  import type { Server } from 'node:http';
  import type { Readable } from 'node:stream';

  /** Its filesystem store; s3-server.ts replaces putContent and deleteObject. */
  export interface S3rverStore {
    existsObject(bucket: string, key: string): Promise<boolean>;
    deleteObject(bucket: string, key: string): Promise<void>;
    /** Writes an object's bytes; resolves with their size and hex MD5. */
    putContent(objectPath: string, content: Buffer | Readable): Promise<[number, string]>;
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    getBucketPath(bucket: string): string;
  }

  interface S3rverContext {
    method: string;
    query: Record<string, string | string[] | undefined>;
    params: Record<string, string>;
    status: number;
    type: string;
    body: unknown;
    path: string;
    /** A request header, '' when absent. */
    get(header: string): string;
    response: { etag?: string };
    store: S3rverStore;
  }
  type Middleware = (ctx: S3rverContext, next: () => Promise<void>) => Promise<void>;
  export default class S3rver {
    constructor(options: {
      address?: string;
      port?: number;
      directory: string;
      silent?: boolean;
      vhostBuckets?: boolean;
      configureBuckets?: Array<{ name: string }>;
    });
    /** Koa's middleware list; entries added before run() take part in every request. */
    middleware: Middleware[];
    store: S3rverStore;
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    httpServer?: Server;
  }
}
