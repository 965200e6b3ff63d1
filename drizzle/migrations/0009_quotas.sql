CREATE TABLE "tenant_usage" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"objects" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "quota" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "tenant_usage" ADD CONSTRAINT "tenant_usage_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
-- Quotas (issue 14). tenant_usage holds what counts against a tenant's quota: the bytes and
-- number of its artifacts that hold or will hold bytes (pending, verifying, ready). A pending
-- upload reserves its declared size, so concurrent uploads cannot together overshoot the quota;
-- failed and deleted artifacts release theirs. A trigger keeps it, so every path that writes
-- artifacts (services, jobs, cascades) counts, and none can forget to.
--
-- The row is the tenant's serialization point for *reservations only*: an insert holds its row
-- lock until commit, so the next insert of that tenant sees it (server/services/quota.ts checks
-- the total in the inserting transaction). Moves that change nothing (pending -> verifying ->
-- ready) do not touch it. Releases only UPDATE: a cascade from a deleted tenant may already have
-- removed the row, and must not recreate it.
CREATE FUNCTION coffer_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  live constant text[] := ARRAY['pending', 'verifying', 'ready'];
  d_bytes bigint := 0;
  d_objects bigint := 0;
  tenant uuid;
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status = ANY (live) THEN
    d_bytes := d_bytes - OLD.size_bytes;
    d_objects := d_objects - 1;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = ANY (live) THEN
    d_bytes := d_bytes + NEW.size_bytes;
    d_objects := d_objects + 1;
  END IF;
  IF d_bytes = 0 AND d_objects = 0 THEN
    RETURN NULL;
  END IF;
  tenant := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
  IF d_bytes > 0 OR d_objects > 0 THEN
    INSERT INTO tenant_usage AS u (tenant_id, bytes, objects) VALUES (tenant, d_bytes, d_objects)
      ON CONFLICT (tenant_id) DO UPDATE SET bytes = u.bytes + excluded.bytes, objects = u.objects + excluded.objects;
  ELSE
    UPDATE tenant_usage SET bytes = bytes + d_bytes, objects = objects + d_objects WHERE tenant_id = tenant;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER artifacts_count_usage AFTER INSERT OR DELETE OR UPDATE OF status, size_bytes ON artifacts
  FOR EACH ROW EXECUTE FUNCTION coffer_count_usage();
--> statement-breakpoint
-- Row-level security as on every tenant table (0004): coffer_app sees and changes only the
-- tenant of its transaction; the owner only with app.bypass_rls.
ALTER TABLE tenant_usage ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE tenant_usage FORCE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY tenant_isolation ON tenant_usage FOR ALL TO PUBLIC
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format(
    'CREATE POLICY coffer_system ON tenant_usage FOR ALL TO %I'
    ' USING (current_setting(''app.bypass_rls'', true) = ''on'')'
    ' WITH CHECK (current_setting(''app.bypass_rls'', true) = ''on'')', current_user);
END $$;
--> statement-breakpoint
-- What already exists counts. CREATE TRIGGER above locks artifacts against writes until this
-- migration commits, so the count is exact even while older instances still run.
INSERT INTO tenant_usage (tenant_id, bytes, objects)
  SELECT tenant_id, sum(size_bytes), count(*) FROM artifacts
  WHERE status IN ('pending', 'verifying', 'ready') GROUP BY tenant_id;
