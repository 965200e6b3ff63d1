-- The quota count (0009) moves to commit time. Its upsert locks the tenant's usage row until the
-- transaction ends, so a tenant's writes queue on that lock. Fired at the insert, the lock was held
-- for the rest of the transaction: its other statements, and the round trip to the server and back
-- before COMMIT. Fired at COMMIT (a deferred constraint trigger), it is held only while the
-- transaction commits. What it counts and refuses is unchanged: the same function, the same rows,
-- and a refusal (CF001) still rolls the whole transaction back, now raised by its COMMIT.
-- It is also the last lock a tenant transaction takes, so it cannot close a cycle with another.
DROP TRIGGER artifacts_count_usage ON artifacts;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER artifacts_count_usage AFTER INSERT OR DELETE OR UPDATE OF status, size_bytes ON artifacts
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION coffer_count_usage();
