-- Supabase's API roles may call the two functions; row level security on
-- the synced tables still decides what each may read and write (the
-- functions are SECURITY INVOKER). Skipped on servers without those roles.
-- Tombstones (table, key, version) are readable by these roles whatever the
-- row level security of the table they came from.
DO $grants$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION public.ebb_push(jsonb), public._ebb_push_one(jsonb),
                public.ebb_pull(text, jsonb, integer), public._ebb_strip(jsonb) TO %I', r);
            EXECUTE format('GRANT SELECT ON public._ebb_tables, public._ebb_tombstones TO %I', r);
            EXECUTE format('GRANT SELECT, INSERT, UPDATE ON public._ebb_applied TO %I', r);
        END IF;
    END LOOP;
END
$grants$;
