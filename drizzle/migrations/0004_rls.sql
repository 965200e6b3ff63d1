-- Row-level security on every tenant-scoped table: "one missing `where tenant_id = ...` must not
-- become a breach". The service works as coffer_app (server/db/index.ts switches every pooled
-- connection to it), a role that owns nothing and is not a superuser, so these policies bind it.
-- Migrations run as the login user, who owns the tables.

-- Roles are cluster-wide, so several Coffer databases in one cluster share coffer_app: create it
-- only if missing. Everything granted below is per database.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coffer_app') THEN
    CREATE ROLE coffer_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
  -- The login user must be allowed to SET ROLE coffer_app (superusers are members of every role).
  IF NOT pg_has_role(current_user, 'coffer_app', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT coffer_app TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
      -- coffer_app was created by another role (say, for another Coffer database in this cluster).
      RAISE EXCEPTION 'role % cannot grant itself coffer_app', current_user
        USING HINT = format('As a superuser (or a role with ADMIN OPTION on coffer_app) run: GRANT coffer_app TO %I', current_user);
    END;
  END IF;
END $$;
--> statement-breakpoint
-- DML only: coffer_app never creates, alters or owns anything. Sequences need USAGE for
-- bigserial defaults (events.id) and SELECT for pg_sequence_last_value (lastAssignedEventId).
-- Default privileges cover tables and sequences later migrations create (as this same owner).
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO coffer_app', current_schema());
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO coffer_app', current_schema());
  EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO coffer_app', current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO coffer_app', current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO coffer_app', current_schema());
END $$;
--> statement-breakpoint
-- Each table with a tenant_id: rows are visible and writable only for the tenant in
-- app.tenant_id (set transaction-locally by withTenant). nullif: outside withTenant the setting
-- is unset or '' and matches nothing, instead of failing the cast. The policy is for PUBLIC, so
-- FORCE makes it bind the owner too. The owner's way past it is coffer_system below.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['api_keys', 'artifacts', 'diff_packs', 'events', 'projects', 'usage_alerts', 'versions'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I FOR ALL TO PUBLIC'
      ' USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)'
      ' WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
  END LOOP;
END $$;
--> statement-breakpoint
-- A tenant may read its own row (its plan); tenants are created and changed by the admin paths only.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY tenant_self ON tenants FOR SELECT TO PUBLIC USING (id = nullif(current_setting('app.tenant_id', true), '')::uuid);
--> statement-breakpoint
-- The narrow bypass (withSystem in server/db/index.ts): the owner, and only when the transaction
-- says so with app.bypass_rls = 'on'. coffer_app can set that variable too, but the policy is not
-- for coffer_app, so for it the variable means nothing. A superuser owner (the embedded default)
-- bypasses row security anyway; this policy is what lets a non-superuser owner do the same.
-- runMigrations sets app.bypass_rls for its session, so data migrations see every row.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['api_keys', 'artifacts', 'diff_packs', 'events', 'projects', 'usage_alerts', 'versions', 'tenants'] LOOP
    EXECUTE format(
      'CREATE POLICY coffer_system ON %I FOR ALL TO %I'
      ' USING (current_setting(''app.bypass_rls'', true) = ''on'')'
      ' WITH CHECK (current_setting(''app.bypass_rls'', true) = ''on'')', t, current_user);
  END LOOP;
END $$;
