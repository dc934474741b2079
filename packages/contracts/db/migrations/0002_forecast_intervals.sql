ALTER TABLE "forecasts" ADD COLUMN "value_p10" double precision;--> statement-breakpoint
ALTER TABLE "forecasts" ADD COLUMN "value_p90" double precision;--> statement-breakpoint
ALTER TABLE "forecasts" ADD COLUMN "model_kind" text DEFAULT 'lstm' NOT NULL;--> statement-breakpoint
UPDATE "forecasts" SET "model_kind" = 'persistence' WHERE "model_version" = 'baseline-persistence';
