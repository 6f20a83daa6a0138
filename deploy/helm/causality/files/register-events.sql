CREATE SCHEMA IF NOT EXISTS lake.analytics;
CREATE TABLE IF NOT EXISTS lake.analytics.events (
    "event_id" varchar,
    "event_type" varchar,
    "category" varchar,
    "user_id" varchar,
    "anonymous_id" varchar,
    "session_id" varchar,
    "event_time" timestamp(6),
    "received_at" timestamp(6),
    "properties" varchar,
    "context" varchar,
    "app_id" varchar,
    "dt" varchar,
    "hour" varchar
) WITH (
    format = 'PARQUET',
    external_location = '__EVENTS_LOCATION__',
    partitioned_by = ARRAY['app_id', 'dt', 'hour']
);
CALL lake.system.sync_partition_metadata('analytics', 'events', 'FULL');
