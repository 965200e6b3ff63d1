export * from './api-keys.ts';
export * from './artifacts.ts';
export * from './diff-packs.ts';
export * from './events.ts';
export * from './lifecycle.ts';
export * from './projects.ts';
export * from './tenants.ts';
export * from './versions.ts';
