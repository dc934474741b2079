CREATE TABLE "dead_letters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"reason" text NOT NULL,
	"detail" text NOT NULL,
	"raw" "bytea" NOT NULL,
	"received_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "windows" (
	"sensor_id" integer NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"count" integer NOT NULL,
	"sum" double precision NOT NULL,
	"mean" double precision NOT NULL,
	"min" double precision NOT NULL,
	"max" double precision NOT NULL,
	"first_event" timestamp with time zone NOT NULL,
	"last_event" timestamp with time zone NOT NULL,
	"slots" double precision[] NOT NULL,
	"imputed" boolean[] NOT NULL,
	"imputed_count" integer NOT NULL,
	"duplicates" integer DEFAULT 0 NOT NULL,
	"emitted_at" timestamp with time zone NOT NULL,
	"stored_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "windows_sensor_id_window_start_pk" PRIMARY KEY("sensor_id","window_start")
);
--> statement-breakpoint
CREATE INDEX "dead_letters_reason_idx" ON "dead_letters" USING btree ("reason");--> statement-breakpoint
CREATE INDEX "windows_start_idx" ON "windows" USING btree ("window_start");