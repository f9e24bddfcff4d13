-- Removes ebb from every table in _ebb_tables (triggers, _ebb_* columns and
-- their index), then ebb's functions, bookkeeping tables and its schemas
-- `_ebb` and `_ebb_deleted` (the tombstones). The data in the synced tables
-- is kept. Also removes what earlier versions installed.
DO $uninstall$
DECLARE
    r record;
BEGIN
    IF to_regclass('public._ebb_tables') IS NULL THEN
        RETURN;
    END IF;
    FOR r IN SELECT t.tbl FROM public._ebb_tables t LOOP
        IF to_regclass(format('public.%I', r.tbl)) IS NOT NULL THEN
            EXECUTE format('DROP TRIGGER IF EXISTS _ebb_before_write ON public.%I', r.tbl);
            EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_write ON public.%I', r.tbl);
            EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_insert ON public.%I', r.tbl);
            EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_update ON public.%I', r.tbl);
            EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_delete ON public.%I', r.tbl);
            EXECUTE format('DROP TRIGGER IF EXISTS _ebb_before_truncate ON public.%I', r.tbl);
            EXECUTE format('ALTER TABLE public.%I DROP COLUMN IF EXISTS _ebb_version,
                DROP COLUMN IF EXISTS _ebb_txid, DROP COLUMN IF EXISTS _ebb_origin', r.tbl);
        END IF;
    END LOOP;
END
$uninstall$;

DROP FUNCTION IF EXISTS public.ebb_push(jsonb);
DROP FUNCTION IF EXISTS public._ebb_push_one(jsonb);
DROP FUNCTION IF EXISTS public.ebb_pull_all(jsonb, integer);
DROP FUNCTION IF EXISTS public.ebb_push_pull(jsonb, jsonb, integer);
DROP FUNCTION IF EXISTS public.ebb_pull(text, jsonb, integer);
DROP FUNCTION IF EXISTS public._ebb_before_write();
DROP FUNCTION IF EXISTS public._ebb_after_write();
DROP FUNCTION IF EXISTS public._ebb_after_delete();
DROP FUNCTION IF EXISTS public._ebb_before_truncate();
DROP FUNCTION IF EXISTS public._ebb_tombstone_version(text, text);
DROP FUNCTION IF EXISTS public._ebb_tombstones_after(text, xid8, xid8, text, integer);
DROP FUNCTION IF EXISTS public._ebb_prior(text, text, text, bigint, text, bigint, bigint);
DROP SCHEMA IF EXISTS _ebb_deleted CASCADE;
DROP SCHEMA IF EXISTS _ebb CASCADE;
DO $$ BEGIN
    IF to_regclass('realtime.messages') IS NOT NULL THEN
        DROP POLICY IF EXISTS ebb_nudges_read ON realtime.messages;
    END IF;
END $$;
DROP FUNCTION IF EXISTS public._ebb_strip(jsonb);
DROP FUNCTION IF EXISTS public.ebb_device_number(text);
DROP FUNCTION IF EXISTS public.ebb_describe(text);
DROP FUNCTION IF EXISTS public.ebb_nudges();
DROP TABLE IF EXISTS public._ebb_devices;
DROP TABLE IF EXISTS public._ebb_applied;
DROP TABLE IF EXISTS public._ebb_tombstones;
DROP TABLE IF EXISTS public._ebb_tables;
