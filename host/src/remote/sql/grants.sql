-- Supabase's API roles. Skipped on servers without those roles (plain
-- Postgres: grant the role your gateway or PostgREST uses EXECUTE on
-- ebb_push, ebb_pull, ebb_pull_all and ebb_push_pull and rights on your tables yourself).
--
-- They may call the two functions, which run as the caller (SECURITY
-- INVOKER): the caller's grants and row level security on the synced tables
-- still decide what each device may read and write, and which deletes it
-- learns of (the tables in `_ebb_deleted` carry the synced tables' read
-- policies; they may read those, nothing more). They get nothing on the
-- bookkeeping tables but reading the allowlist: Supabase's default
-- privileges grant them everything created in `public`, so it is revoked
-- here. ebb's bookkeeping is kept by the SECURITY DEFINER triggers and
-- read through _ebb.prior (see install.sql).
DO $grants$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON public._ebb_applied, public._ebb_tables FROM %I', r);
            EXECUTE format('GRANT SELECT ON public._ebb_tables TO %I', r);
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA _ebb_deleted FROM %I', r);
            EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA _ebb_deleted TO %I', r);
            EXECUTE format('GRANT USAGE ON SCHEMA _ebb, _ebb_deleted TO %I', r);
            EXECUTE format('GRANT EXECUTE ON FUNCTION public.ebb_push(jsonb), public._ebb_push_one(jsonb),
                public.ebb_pull(text, jsonb, integer), public.ebb_pull_all(jsonb, integer), public._ebb_strip(jsonb),
                public.ebb_push_pull(jsonb, jsonb, integer),
                _ebb.prior(text, text, text, bigint, text, bigint, bigint), _ebb.rls_print(oid),
                _ebb.policy_columns(oid), _ebb.transient(text), _ebb.pull_query(text, text, text, boolean),
                _ebb.zoned(oid), _ebb.utc(anyelement, jsonb), _ebb.sent_row(text, boolean, text),
                _ebb.push_columns(oid, text, jsonb), _ebb.push_query(text, text, text, text, boolean),
                _ebb.push_new_query(text, text, text, boolean), _ebb.lock_query(text, text, text),
                public.ebb_device_number(text), public.ebb_describe(text), public.ebb_nudges() TO %I', r);
            EXECUTE format('REVOKE ALL ON public._ebb_devices FROM %I', r);
        END IF;
    END LOOP;
END
$grants$;
