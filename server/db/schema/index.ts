export * from './tenants.ts';
export * from './api-keys.ts';
export * from './artifacts.ts';
export * from './events.ts';
export * from './projects.ts';
export * from './versions.ts';
export * from './diff-packs.ts';
export * from './lifecycle.ts';
