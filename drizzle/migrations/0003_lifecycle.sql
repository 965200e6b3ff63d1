CREATE TABLE "cleanup_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"job" text NOT NULL,
	"triggered_by" text NOT NULL,
	"dry_run" boolean NOT NULL,
	"status" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"examined" integer DEFAULT 0 NOT NULL,
	"deleted" integer DEFAULT 0 NOT NULL,
	"bytes_freed" bigint DEFAULT 0 NOT NULL,
	"errors" integer DEFAULT 0 NOT NULL,
	"error_messages" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"tenants" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_alerts" (
	"tenant_id" uuid NOT NULL,
	"day" date NOT NULL,
	"estimate_usd" real NOT NULL,
	"threshold_usd" real NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_alerts_tenant_id_day_pk" PRIMARY KEY("tenant_id","day")
);
--> statement-breakpoint
CREATE INDEX "cleanup_runs_started_idx" ON "cleanup_runs" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "cleanup_runs_job_started_idx" ON "cleanup_runs" USING btree ("job","started_at");--> statement-breakpoint
CREATE INDEX "artifacts_storage_key_idx" ON "artifacts" USING btree ("storage_key");