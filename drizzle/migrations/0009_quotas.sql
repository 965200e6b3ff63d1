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
-- The one rule for a tenant's limit: the admin's override field if present (null: no limit),
-- else the plan's from the plan table the instance passes (COFFER_QUOTAS; a plan it does not
-- name has no limit). The server's usage queries call this same function.
CREATE FUNCTION coffer_limit(field text, plan text, override jsonb, plans jsonb) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN override ? field THEN (override ->> field)::bigint ELSE (plans -> plan ->> field)::bigint END
$$;
--> statement-breakpoint
-- A reservation (an insert, or a move back to a live state) in a tenant transaction is checked
-- right here, against the plan table the server put in coffer.plan_quotas with the transaction's
-- BEGIN (withTenant). The upsert holds the tenant's usage row until commit, so the next
-- reservation of that tenant sees this one: concurrent calls cannot both take the last space.
-- Over the limit it raises CF001 with the numbers as JSON in DETAIL (server/db/pg-errors.ts words
-- them), which rolls the insert back before any byte moves. Paths outside a tenant transaction
-- (migrations, operators' SQL) are counted but not refused.
--
-- Moves that change nothing (pending -> verifying -> ready) do not touch the row. Releases only
-- UPDATE: a cascade from a deleted tenant may already have removed the row, and must not recreate it.
CREATE FUNCTION coffer_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  live constant text[] := ARRAY['pending', 'verifying', 'ready'];
  d_bytes bigint := 0;
  d_objects bigint := 0;
  tenant uuid;
  used_bytes bigint;
  used_objects bigint;
  plans jsonb;
  t record;
  max_bytes bigint;
  max_objects bigint;
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
  IF d_bytes <= 0 AND d_objects <= 0 THEN
    UPDATE tenant_usage SET bytes = bytes + d_bytes, objects = objects + d_objects WHERE tenant_id = tenant;
    RETURN NULL;
  END IF;
  INSERT INTO tenant_usage AS u (tenant_id, bytes, objects) VALUES (tenant, d_bytes, d_objects)
    ON CONFLICT (tenant_id) DO UPDATE SET bytes = u.bytes + excluded.bytes, objects = u.objects + excluded.objects
    RETURNING u.bytes, u.objects INTO used_bytes, used_objects;
  IF coalesce(current_setting('app.tenant_id', true), '') = '' THEN
    RETURN NULL;
  END IF;
  plans := nullif(current_setting('coffer.plan_quotas', true), '')::jsonb;
  IF plans IS NULL THEN
    RAISE EXCEPTION 'a tenant transaction that stores an artifact must set coffer.plan_quotas (withTenant settings)';
  END IF;
  SELECT plan, quota INTO t FROM tenants WHERE id = tenant;
  max_bytes := coffer_limit('bytes', t.plan, t.quota, plans);
  max_objects := coffer_limit('objects', t.plan, t.quota, plans);
  IF used_bytes > max_bytes OR used_objects > max_objects THEN
    RAISE EXCEPTION USING ERRCODE = 'CF001', MESSAGE = 'quota exceeded', DETAIL = json_build_object(
      'plan', t.plan, 'overridden', json_build_object('bytes', t.quota ? 'bytes', 'objects', t.quota ? 'objects'),
      'askedBytes', d_bytes, 'usedBytes', used_bytes - d_bytes, 'maxBytes', max_bytes,
      'usedObjects', used_objects - d_objects, 'maxObjects', max_objects)::text;
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
