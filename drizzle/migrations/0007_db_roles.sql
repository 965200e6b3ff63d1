-- Database roles (issue 13, item 9). The service's pool now logs in as coffer_app itself instead
-- of switching to it from the owner's session, so SET ROLE NONE leads nowhere. The system path
-- (withSystem) gets its own role, coffer_system: BYPASSRLS, but neither owner nor superuser, with
-- DML rights only. Roles are cluster-wide: create it only if missing. Only a superuser may create
-- a BYPASSRLS role; the embedded default's owner is one. Logins and passwords are given at start
-- (server/db/roles.ts) or by the operator (README, Security).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coffer_system') THEN
    BEGIN
      CREATE ROLE coffer_system NOLOGIN BYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'role % cannot create coffer_system (a BYPASSRLS role needs a superuser)', current_user
        USING HINT = 'As a superuser run: CREATE ROLE coffer_system LOGIN BYPASSRLS PASSWORD ''...'' (README, Security)';
    END;
  END IF;
END $$;
--> statement-breakpoint
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO coffer_system', current_schema());
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO coffer_system', current_schema());
  EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO coffer_system', current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO coffer_system', current_schema());
  EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO coffer_system', current_schema());
END $$;
