CREATE TABLE "actuals" (
	"sensor_id" integer NOT NULL,
	"ts" timestamp with time zone NOT NULL,
	"value" double precision NOT NULL,
	"imputed" boolean NOT NULL,
	CONSTRAINT "actuals_sensor_id_ts_pk" PRIMARY KEY("sensor_id","ts")
);
--> statement-breakpoint
CREATE TABLE "forecasts" (
	"sensor_id" integer NOT NULL,
	"target_ts" timestamp with time zone NOT NULL,
	"model_version" text NOT NULL,
	"value" double precision NOT NULL,
	"origin_ts" timestamp with time zone NOT NULL,
	"made_at" timestamp with time zone NOT NULL,
	CONSTRAINT "forecasts_sensor_id_target_ts_model_version_pk" PRIMARY KEY("sensor_id","target_ts","model_version")
);
--> statement-breakpoint
CREATE TABLE "models" (
	"sensor_id" integer NOT NULL,
	"version" text NOT NULL,
	"location" text NOT NULL,
	"trained_from" timestamp with time zone,
	"trained_to" timestamp with time zone,
	"metrics" jsonb NOT NULL,
	"promoted" boolean DEFAULT false NOT NULL,
	"decision" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"promoted_at" timestamp with time zone,
	CONSTRAINT "models_sensor_id_version_pk" PRIMARY KEY("sensor_id","version")
);
--> statement-breakpoint
CREATE INDEX "forecasts_made_at_idx" ON "forecasts" USING btree ("made_at");