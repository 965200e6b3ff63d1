import { and, count, eq, gt, inArray, sql, sum } from 'drizzle-orm';
import type { Usage } from '../../shared/schemas/lifecycle.ts';
import type { LifecycleConfig } from '../config/index.ts';
import { type DbOrTx, withSystem } from '../db/index.ts';
import { limitColumns } from '../db/queries/tenants.ts';
import { artifacts, tenants, usageAlerts } from '../db/schema/index.ts';
import type { Deps } from '../deps.ts';
import { plansOf, quotaStatus } from '../services/quota.ts';
import type { TenantScope } from '../tenant-scope.ts';
import { lifecycleLog } from './log.ts';
import { cutoff } from './queries.ts';

/** R2 and S3 bill storage per decimal gigabyte. */
const GB = 1e9;
const WINDOW_DAYS = 30;

export const OPS_METHOD =
  `artifact rows created in the last ${WINDOW_DAYS} days (the event log keeps only days): class A = 1 PUT per single upload, ` +
  `parts + 2 (create, complete) per multipart upload; class B = 2 per ready upload (the HEAD and GET that verify it). ` +
  `Downloads go straight from storage through signed URLs, so their reads and egress are not seen and not counted.`;

type Ops = { classA: number; classB: number };
type Bucket = { bytes: number; objects: number };

export function estimateCost(prices: LifecycleConfig['prices'], bytes: number, ops: Ops) {
  const storageUsd = (bytes / GB) * prices.storageGbMonth;
  const classAUsd = (ops.classA / 1e6) * prices.classAPerMillion;
  const classBUsd = (ops.classB / 1e6) * prices.classBPerMillion;
  const egressUsd = 0;
  // Micro-dollars: a small tenant's estimate must not round to zero.
  const round = (n: number) => Math.round(n * 1e6) / 1e6;
  return {
    storageUsd: round(storageUsd),
    classAUsd: round(classAUsd),
    classBUsd: round(classBUsd),
    egressUsd,
    totalUsd: round(storageUsd + classAUsd + classBUsd + egressUsd),
  };
}

/** Ready artifacts only: pending ones are not stored yet, failed and deleted ones hold no bytes. */
function storedBy(db: DbOrTx, tenantIds?: string[]) {
  return db
    .select({
      tenantId: artifacts.tenantId,
      kind: artifacts.kind,
      projectId: artifacts.projectId,
      objects: count(),
      bytes: sum(artifacts.sizeBytes).mapWith(Number),
    })
    .from(artifacts)
    .where(and(eq(artifacts.status, 'ready'), tenantIds ? inArray(artifacts.tenantId, tenantIds) : undefined))
    .groupBy(artifacts.tenantId, artifacts.kind, artifacts.projectId);
}

function opsBy(db: DbOrTx, p: { since: Date; partSize: number; tenantIds?: string[] }) {
  const multipart = sql`${artifacts.uploadId} is not null`;
  return db
    .select({
      tenantId: artifacts.tenantId,
      classA:
        sql<number>`coalesce(sum(case when ${multipart} then ceil(${artifacts.sizeBytes}::numeric / ${p.partSize}) + 2 else 1 end), 0)`.mapWith(
          Number,
        ),
      classB: sql<number>`2 * count(*) filter (where ${artifacts.status} = 'ready')`.mapWith(Number),
    })
    .from(artifacts)
    .where(and(gt(artifacts.createdAt, p.since), p.tenantIds ? inArray(artifacts.tenantId, p.tenantIds) : undefined))
    .groupBy(artifacts.tenantId);
}

function add(map: Map<string, Bucket>, key: string, b: Bucket) {
  const cur = map.get(key) ?? { bytes: 0, objects: 0 };
  map.set(key, { bytes: cur.bytes + b.bytes, objects: cur.objects + b.objects });
}

/** The caller's stored bytes and objects per kind and project, and what they cost a month. */
export async function tenantUsage(deps: Deps, tenant: TenantScope): Promise<Usage> {
  const now = deps.now();
  const { prices, costAlertUsd } = deps.config.lifecycle;
  const { rows, ops, quota } = await tenant.run(async (tx) => ({
    rows: await storedBy(tx, [tenant.id]),
    quota: await quotaStatus(deps, tx, tenant.id),
    ops: (await opsBy(tx, { since: cutoff(now, WINDOW_DAYS), partSize: deps.config.limits.partSize, tenantIds: [tenant.id] }))[0] ?? {
      classA: 0,
      classB: 0,
    },
  }));
  const byKind = new Map<string, Bucket>();
  const byProject = new Map<string, Bucket>();
  const total = { bytes: 0, objects: 0 };
  for (const r of rows) {
    const b = { bytes: r.bytes, objects: r.objects };
    add(byKind, r.kind, b);
    if (r.projectId) add(byProject, r.projectId, b);
    total.bytes += b.bytes;
    total.objects += b.objects;
  }
  const estimate = estimateCost(prices, total.bytes, ops);
  const exceeded = estimate.totalUsd > costAlertUsd;
  if (exceeded) await recordAlert(deps, tenant, now, estimate.totalUsd);
  return {
    asOf: now,
    total,
    byKind: [...byKind].map(([kind, b]) => ({ kind, ...b })),
    byProject: [...byProject].map(([projectId, b]) => ({ projectId, ...b })),
    operations: { classA: ops.classA, classB: ops.classB, method: OPS_METHOD },
    prices,
    estimate,
    alert: { thresholdUsd: costAlertUsd, exceeded },
    quota,
  };
}

/** Logs the alert once per tenant and UTC day: the first caller's insert wins, the others see a conflict. */
async function recordAlert(deps: Deps, tenant: TenantScope, now: Date, estimateUsd: number): Promise<void> {
  const thresholdUsd = deps.config.lifecycle.costAlertUsd;
  const day = now.toISOString().slice(0, 10);
  const inserted = await tenant.run((tx) =>
    tx
      .insert(usageAlerts)
      .values({ tenantId: tenant.id, day, estimateUsd, thresholdUsd, createdAt: now })
      .onConflictDoNothing()
      .returning({ day: usageAlerts.day }),
  );
  if (inserted.length)
    lifecycleLog(deps.config.logLevel).warn(
      { tenantId: tenant.id, estimateUsd, thresholdUsd },
      'estimated monthly storage cost is above the alert threshold',
    );
}

/** Totals per tenant across the deployment (operators), optionally one tenant. Cross-tenant by design, so withSystem. */
export async function adminUsage(deps: Deps, input: { tenantId?: string }) {
  const { systemDb, config } = deps;
  const ids = input.tenantId ? [input.tenantId] : undefined;
  const { stored, ops, names } = await withSystem(systemDb, async (tx) => ({
    stored: await storedBy(tx, ids),
    ops: await opsBy(tx, { since: cutoff(deps.now(), WINDOW_DAYS), partSize: config.limits.partSize, tenantIds: ids }),
    names: await tx
      .select({ id: tenants.id, name: tenants.name, plan: tenants.plan, ...limitColumns(plansOf(config)) })
      .from(tenants)
      .where(ids ? inArray(tenants.id, ids) : undefined),
  }));
  const perTenant = new Map<string, Bucket>();
  for (const r of stored) add(perTenant, r.tenantId, { bytes: r.bytes, objects: r.objects });
  const opsOf = new Map(ops.map((o) => [o.tenantId, o]));
  const list = names.map((t) => {
    const b = perTenant.get(t.id) ?? { bytes: 0, objects: 0 };
    const estimateUsd = estimateCost(config.lifecycle.prices, b.bytes, opsOf.get(t.id) ?? { classA: 0, classB: 0 }).totalUsd;
    const alert = estimateUsd > config.lifecycle.costAlertUsd;
    return { tenantId: t.id, name: t.name, plan: t.plan, ...b, quotaBytes: t.maxBytes, quotaObjects: t.maxObjects, estimateUsd, alert };
  });
  list.sort((a, b) => b.bytes - a.bytes);
  const total = list.reduce(
    (s, t) => ({ bytes: s.bytes + t.bytes, objects: s.objects + t.objects, estimateUsd: s.estimateUsd + t.estimateUsd }),
    { bytes: 0, objects: 0, estimateUsd: 0 },
  );
  return { tenants: list, total: { ...total, estimateUsd: Math.round(total.estimateUsd * 1e6) / 1e6 } };
}
