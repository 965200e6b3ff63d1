-- Event ids without a write lock (issue 12). An event's id is its writing transaction's id
-- (pg_current_xact_id, 64 bits, never wraps) shifted left by 12 bits, plus the event's place in
-- that transaction (at most 4096 events per transaction). Ids thus order events by transaction,
-- and every transaction with an xid below the oldest one still in flight has ended, so
-- coffer_event_horizon() (that xmin shifted alike) is an id below which nothing can ever commit
-- again: readers read only below it, and a subscriber that has seen id N can never miss a
-- smaller one. server/events/append.ts has the whole argument.
CREATE FUNCTION coffer_next_event_id() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n integer := coalesce(nullif(current_setting('coffer.events_in_tx', true), '')::integer, 0);
BEGIN
  IF n < 0 OR n >= 4096 THEN
    RAISE EXCEPTION 'a transaction may append at most 4096 events';
  END IF;
  -- Transaction-local: back to unset at commit or rollback (and with a rolled back savepoint,
  -- together with the rows that used the numbers).
  PERFORM set_config('coffer.events_in_tx', (n + 1)::text, true);
  RETURN (pg_current_xact_id()::text::bigint << 12) + n;
END $$;
--> statement-breakpoint
CREATE FUNCTION coffer_event_horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 12
$$;
--> statement-breakpoint
-- Old ids came from a sequence, one per event, and no transaction ever wrote more than 1000
-- (the cleanup jobs' batch), so they stay below every new id; checked rather than assumed.
DO $$
BEGIN
  IF (SELECT coalesce(max(id), 0) FROM events) >= (pg_current_xact_id()::text::bigint << 12) THEN
    RAISE EXCEPTION 'events.id already exceeds the new id range; contact the maintainers';
  END IF;
END $$;
--> statement-breakpoint
ALTER TABLE events ALTER COLUMN id SET DEFAULT coffer_next_event_id();
--> statement-breakpoint
DROP SEQUENCE IF EXISTS events_id_seq;
