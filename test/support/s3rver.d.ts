/** Just the part of @20minutes/s3rver (untyped, CommonJS) that test/support/s3-server.ts uses. */
declare module '@20minutes/s3rver' {
  import type { Server } from 'node:http';

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
    store: {
      existsObject(bucket: string, key: string): Promise<boolean>;
      deleteObject(bucket: string, key: string): Promise<void>;
    };
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
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    httpServer?: Server;
  }
}
