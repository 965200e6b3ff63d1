export * from './tenants.ts';
export * from './api-keys.ts';
export * from './artifacts.ts';
export * from './events.ts';
