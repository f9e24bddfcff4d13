-- Change nudges: the server tells connected tills that a table moved, so
-- they pull now instead of at their next polling round. A nudge carries the
-- table and the transaction id, never row data: the pull that follows is
-- the source of truth and runs under the table's own grants and policies,
-- so a lost or repeated nudge costs latency, never data.
--
-- One statement-level trigger per synced table, AFTER INSERT, UPDATE,
-- DELETE and TRUNCATE, sends at most one nudge per table and transaction:
-- - always `pg_notify('ebb_changes', ...)` for ebb-gateway, which LISTENs
--   and relays it over its Realtime-compatible websocket;
-- - on Supabase (the `realtime` schema exists), `realtime.send(...)`: a
--   Broadcast from the database on the private topic, delivered by
--   Supabase Realtime to the tills joined to it.
-- Both are delivered at COMMIT and not at all on ROLLBACK.
--
-- SECURITY DEFINER: realtime.send inserts into realtime.messages, which the
-- roles that sync cannot write. The function is owned by whoever runs this
-- script (on Supabase, `postgres`) and takes nothing from the caller but
-- the table's name.
CREATE OR REPLACE FUNCTION _ebb.nudge() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    txid  xid8 := pg_current_xact_id_if_assigned();
    sent  text := coalesce(current_setting('ebb.nudged', true), '');
    mark  text := '/' || TG_RELID::text || '/';
    topic text := TG_ARGV[0];
    body  jsonb;
BEGIN
    -- Nothing written in this transaction (an UPDATE matching no row), or
    -- this table was nudged already in it.
    IF txid IS NULL OR strpos(sent, mark) > 0 THEN
        RETURN NULL;
    END IF;
    -- Transaction-local: gone at COMMIT or ROLLBACK (and at the rollback of
    -- a savepoint, with the nudge it stood for).
    PERFORM set_config('ebb.nudged', sent || mark, true);
    body := jsonb_build_object('table', TG_TABLE_NAME, 'txid', txid::text);
    PERFORM pg_notify('ebb_changes', jsonb_build_object(
        'topic', topic, 'event', 'change', 'payload', body)::text);
    IF to_regprocedure('realtime.send(jsonb,text,text,boolean)') IS NOT NULL THEN
        PERFORM realtime.send(body, 'change', topic, true);
    END IF;
    RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION _ebb.nudge() FROM PUBLIC;

-- Puts the nudge trigger on every table in the allowlist, sending on
-- `p_topic` (`realtime.topic` in policies.toml; tills join
-- `realtime:<topic>`), and on Supabase lets authenticated users, and only
-- them, receive that topic's broadcasts: Realtime checks a private
-- channel's join against the SELECT policies on realtime.messages. Tills
-- that connect with the anon key alone get no nudges and keep polling.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_nudges(p_topic text) RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    r record;
BEGIN
    IF p_topic IS NULL OR p_topic = '' OR length(p_topic) > 200 THEN
        RAISE EXCEPTION 'ebb: the realtime topic must be 1 to 200 characters';
    END IF;
    FOR r IN SELECT t.tbl FROM public._ebb_tables t
             WHERE to_regclass(format('public.%I', t.tbl)) IS NOT NULL
             ORDER BY t.tbl
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS _ebb_nudge ON public.%I', r.tbl);
        EXECUTE format('CREATE TRIGGER _ebb_nudge
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.%I
            FOR EACH STATEMENT EXECUTE FUNCTION _ebb.nudge(%L)', r.tbl, p_topic);
    END LOOP;
    IF to_regclass('realtime.messages') IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        DROP POLICY IF EXISTS ebb_nudges_read ON realtime.messages;
        EXECUTE format('CREATE POLICY ebb_nudges_read ON realtime.messages
            FOR SELECT TO authenticated
            USING (realtime.topic() = %L AND extension = %L)', p_topic, 'broadcast');
    END IF;
END
$fn$;

-- For `ebb check`: on which topic each synced table nudges (null: no
-- nudge trigger, the install is older), and whether Supabase Realtime's
-- realtime.send is there. Reads only the catalog, which every role may
-- read: SECURITY INVOKER.
CREATE OR REPLACE FUNCTION public.ebb_nudges() RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, public
AS $fn$
SELECT jsonb_build_object(
    'realtime', EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = 'realtime' AND p.proname = 'send'),
    'tables', coalesce((
        SELECT jsonb_object_agg(t.tbl, (
            SELECT convert_from(substring(g.tgargs FROM 1 FOR position('\x00'::bytea IN g.tgargs) - 1),
                                'UTF8')
            FROM pg_trigger g
            WHERE g.tgrelid = to_regclass(format('public.%I', t.tbl)) AND g.tgname = '_ebb_nudge'))
        FROM public._ebb_tables t), '{}'::jsonb))
$fn$;
