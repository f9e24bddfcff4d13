-- ebb_push: a batch of changes; each one through _ebb_push_one (push.sql)
-- unless a shorter way decides the same.

-- Applies a batch of changes (a JSON array of model::Change) in one
-- transaction and answers {"results": [PushResult, ...]} in order. A change
-- that breaks a constraint is rejected with its SQLSTATE and the batch goes
-- on; transient failures (serialization, deadlock, resources, shutdown)
-- abort the whole call so the client retries it.
--
-- Each change runs in its own subtransaction. A fresh insert (an upsert on
-- base 0, the bulk of a first sync) first takes a short way: one
-- `INSERT .. ON CONFLICT (key) DO NOTHING` of the columns the row carries
-- (the others take their defaults). It decides exactly what _ebb_push_one
-- would, and hands every other case to it:
-- - a row comes back at version 1: the key had no row and no tombstone
--   (a tombstone would have raised the version), so _ebb_push_one would
--   have found version 0 = base and written it. No earlier answer can
--   apply: _ebb_applied only records writes, and every written key keeps
--   a row or a tombstone. (A key whose row was removed behind ebb's back,
--   with triggers off, is written again rather than given the stale
--   "applied".) The write sets `ebb.push` first, so the AFTER
--   trigger records it for exact retries, as on the long way.
-- - a version above 1: the key was deleted (a conflict, or our own lost
--   delete): the subtransaction is undone (SQLSTATE EB001, private to this
--   function) and _ebb_push_one decides.
-- - no row: the key exists (or a concurrent insert of it committed first;
--   ON CONFLICT waited for it). Nothing was written; _ebb_push_one decides
--   with the row locked.
-- An error (a constraint, row level security) undoes it too, and
-- _ebb_push_one decides: for a new key it raises the same error on the
-- same row; an exact retry of our own insert whose row another device
-- deleted since (with its parent: the insert breaks a foreign key) gets
-- the stored answer there, where the short way refused it and the till's
-- change died (found in session 14).
--
-- A run of two or more such fresh inserts in a row (same table and device,
-- rows carrying the same columns: the bulk of a first push) first takes a
-- shorter way still: one `INSERT .. SELECT FROM jsonb_to_recordset,
-- jsonb_populate_record .. ON CONFLICT (key) DO NOTHING` for the whole run, in one
-- subtransaction, `ebb.push` naming every change of it (the AFTER
-- statement trigger records them all in one statement). It stands only if
-- every row of the run came back at version 1, which is what the short way
-- would have decided for each; anything else (a key that exists, a
-- tombstone, a key spelled otherwise, a broken constraint, row level
-- security) undoes the whole run and its changes go one by one as above,
-- so each gets exactly the answer it would have had. Order within the run
-- does not matter: every row of it is a new key, written once.
--
-- Dates and times sent without an offset into a column whose input reads
-- them in the session's time zone (timestamptz, timetz and their ranges
-- and arrays) are read as UTC (`_ebb.utc`, install.sql): a till's text
-- `2026-12-06 08:06:02` is what SQLite's CURRENT_TIMESTAMP and
-- datetime('now') write, UTC, and ebb writes pulled instants back in UTC.
-- Read in the server's zone (America/New_York, say), every sale was stored
-- five hours late and came back so to every till. Only the values sent
-- are read so: the write itself, its defaults and the user's triggers run
-- in the session's zone as any other write does.
CREATE OR REPLACE FUNCTION public.ebb_push(changes jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, public
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    n       integer;
    i       integer := 0;
    j       integer;
    c       jsonb;
    e       jsonb;
    results jsonb[] := '{}';
    res     jsonb;
    code    text;
    msg     text;
    detail  text;
    short   boolean;
    -- This change's insert was tried the short way.
    tried   boolean;
    -- The table of the previous change and what the short way needs of it
    -- (changes come grouped by table): NULL pk = not synced, take the long way.
    t_name  text;
    t_pk    text;
    t_type  text;
    t_cols  text[];
    t_rel   oid;
    -- Whether its times without an offset must be read as UTC (_ebb.utc).
    t_zoned boolean;
    -- The table's own insert (push.sql), its key type and columns (names
    -- and types) it was written for; used while the table still has them.
    t_new   text;
    t_key   text;
    t_typed text;
    v_sent  text;
    v_pk    text;
    v_row   jsonb;
    v_ver   bigint;
    v_list  text;
    -- Changes before this index were tried as a run and go one by one.
    run_end integer := 0;
    run_dev text;
    ends    integer[];
    shorts  boolean[];
    run_with text[];
    run_without text[];
    run_same boolean;
    run_recs text;
    run_pks text[];
    run_src jsonb;
    run_sel text;
    one_run boolean;
    got     bigint;
BEGIN
    IF changes IS NULL OR jsonb_typeof(changes) <> 'array' THEN
        RAISE EXCEPTION 'ebb_push: changes must be a JSON array' USING ERRCODE = '22023';
    END IF;
    n := jsonb_array_length(changes);
    -- The bulk of a first push: every change a fresh insert of one table
    -- and device, one run (of two or more). Said in one pass of typed
    -- fields (the windows below cost 6 us a change); a change that is not
    -- an object (which jsonb_to_recordset refuses) goes the general way.
    -- What a fresh insert is must say the same as `short` and `sig` below.
    IF n >= 2 THEN
        BEGIN
            SELECT bool_and(coalesce(x.op = 'upsert' AND jsonb_typeof(x.row) = 'object'
                                     AND x.pk IS NOT NULL AND x.counter IS NOT NULL
                                     AND coalesce(x.base_version, '0') IN ('0'::jsonb, 'null'::jsonb)
                                     AND x."table" = changes->0->>'table'
                                     AND x.device = changes->0->>'device', false))
              INTO one_run
            FROM jsonb_to_recordset(changes) AS x("table" text, pk text, op text, device text,
                                                   counter text, "row" jsonb, base_version jsonb);
        EXCEPTION
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE;
                IF _ebb.transient(code) THEN
                    RAISE;
                END IF;
                one_run := false;
        END;
    END IF;
    IF one_run THEN
        shorts := array_fill(true, ARRAY[n]);
        ends := array_fill(n, ARRAY[n]);
    ELSIF n = 1 THEN
        -- One change (an edit): no run to look for, so none of the look
        -- below and its windows (37 us a call). Only a fresh insert can
        -- take the short way: an edit of a known row (base above 0) goes
        -- the long way at once, without the table looked up for the short
        -- one (which decides as the long way would, see above).
        shorts := ARRAY[coalesce(changes->0->>'op' = 'upsert'
                                 AND jsonb_typeof(changes->0->'row') = 'object'
                                 AND changes->0->>'table' IS NOT NULL AND changes->0->>'pk' IS NOT NULL
                                 AND changes->0->>'device' IS NOT NULL
                                 AND changes->0->>'counter' IS NOT NULL
                                 AND coalesce(changes->0->'base_version', '0') IN ('0'::jsonb, 'null'::jsonb),
                                 false)];
        ends := ARRAY[1];
    ELSE
        -- Per change (what a fresh insert is must say the same as the one-run
        -- look above): whether it has the shape of a fresh insert's short way
        -- (an upsert with a row object and every field it names), and where the
        -- run it starts would end (exclusive; its own index + 1 when it cannot
        -- be in one): consecutive such changes on base 0 of one table and
        -- device. Only jsonb is looked at: what could fail is tried inside the
        -- blocks below.
        WITH x AS (
            SELECT a.pos - 1 AS pos,
                   coalesce(a.ch->>'op' = 'upsert' AND jsonb_typeof(a.ch->'row') = 'object'
                            AND a.ch->>'table' IS NOT NULL AND a.ch->>'pk' IS NOT NULL
                            AND a.ch->>'device' IS NOT NULL AND a.ch->>'counter' IS NOT NULL,
                            false) AS short,
                   a.ch
            FROM jsonb_array_elements(changes) WITH ORDINALITY AS a(ch, pos)
        ), y AS (
            SELECT x.pos, x.short,
                   CASE WHEN x.short AND coalesce(x.ch->'base_version', '0') IN ('0'::jsonb, 'null'::jsonb)
                        THEN jsonb_build_array(x.ch->'table', x.ch->'device')
                   END AS sig
            FROM x
        ), b AS (
            -- A run goes on while the signature is the previous change's.
            SELECT y.pos, y.short, y.sig,
                   coalesce(y.sig = lag(y.sig) OVER (ORDER BY y.pos), false) AS goes_on
            FROM y
        ), r AS (
            SELECT b.pos, b.short, b.sig,
                   sum(CASE WHEN b.goes_on THEN 0 ELSE 1 END) OVER (ORDER BY b.pos) AS run
            FROM b
        )
        SELECT array_agg(z.short ORDER BY z.pos),
               array_agg(CASE WHEN z.sig IS NULL THEN z.pos + 1 ELSE z.last + 1 END ORDER BY z.pos)
          INTO shorts, ends
        FROM (SELECT r.pos, r.short, r.sig, max(r.pos) OVER (PARTITION BY r.run) AS last FROM r) z;
    END IF;
    WHILE i < n LOOP
        c := changes->i;
        short := shorts[i + 1];
        IF short AND c->>'table' IS DISTINCT FROM t_name THEN
            t_name := c->>'table';
            t_rel := to_regclass(format('public.%I', t_name));
            SELECT t.pk, t.push_fn || '_new', t.push_key, t.push_cols
              INTO t_pk, t_new, t_key, t_typed FROM public._ebb_tables t
            WHERE t.tbl = t_name AND t_rel IS NOT NULL;
            SELECT format_type(a.atttypid, a.atttypmod) INTO t_type FROM pg_attribute a
            WHERE a.attrelid = t_rel AND a.attname = t_pk AND NOT a.attisdropped;
            SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO t_cols
            FROM pg_attribute a
            WHERE a.attrelid = t_rel AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attgenerated = '' AND left(a.attname, 5) <> '_ebb_';
            -- The table's own insert while its columns are those it was
            -- written for (as _ebb_push_one decides for its upsert).
            IF t_new IS NOT NULL AND (t_type IS DISTINCT FROM t_key
                    OR (SELECT c.typed FROM _ebb.push_columns(t_rel, t_pk, NULL) c)
                       IS DISTINCT FROM t_typed) THEN
                t_new := NULL;
            END IF;
            -- Looked up when a statement needs it (the table's own do not).
            t_zoned := NULL;
        END IF;

        -- A run of fresh inserts, in one statement (see above).
        IF i >= run_end AND short AND t_type IS NOT NULL AND ends[i + 1] - i >= 2 THEN
            j := ends[i + 1];
            run_end := j;
            run_dev := c->>'device';
            t_zoned := coalesce(t_zoned, _ebb.zoned(t_rel), false);
            BEGIN
                -- The columns the first row carries; every row of the run
                -- must carry the same ones (the others take their defaults).
                -- Each row's columns come from its own object, the key from
                -- its change (as `row || {key: pk}` would give it).
                SELECT coalesce(array_agg(u.k) FILTER (WHERE u.has AND u.k <> t_pk), '{}'),
                       coalesce(array_agg(u.k) FILTER (WHERE NOT u.has), '{}'),
                       string_agg(format('%I', u.k), ', ' ORDER BY u.o) FILTER (WHERE u.has),
                       string_agg(CASE WHEN u.k = t_pk THEN format('x.pk::%s', t_type)
                                       ELSE format('r.%I', u.k) END, ', ' ORDER BY u.o)
                           FILTER (WHERE u.has)
                  INTO run_with, run_without, v_list, run_sel
                FROM (SELECT k, o, (k = t_pk OR (c->'row') ? k) AS has
                      FROM unnest(t_cols) WITH ORDINALITY AS t(k, o)) u;
                -- The run's changes, read once as typed fields: their keys,
                -- what the AFTER trigger records of each (as JSON text, built
                -- directly: a jsonb object per change and its text cost twice
                -- as much), and whether each row carries those columns.
                run_src := CASE WHEN i = 0 AND j = n THEN changes
                                ELSE jsonb_path_query_array(changes, format('$[%s to %s]', i, j - 1)::jsonpath) END;
                SELECT array_agg(x.pk ORDER BY x.o),
                       '[' || string_agg(format('{"pk":%s,"counter":%s,"hash":"%s","base":0}',
                                                to_json(x.pk), x.counter::bigint,
                                                md5('upsert:0:' || x.row::text)), ',' ORDER BY x.o) || ']',
                       bool_and(x.row ?& run_with AND NOT x.row ?| run_without)
                  INTO run_pks, run_recs, run_same
                FROM ROWS FROM (jsonb_to_recordset(run_src) AS (pk text, counter text, "row" jsonb))
                     WITH ORDINALITY AS x(pk, counter, "row", o);
                IF NOT run_same THEN
                    RAISE EXCEPTION 'ebb_push: rows carrying other columns' USING ERRCODE = 'EB001';
                END IF;
                IF t_type <> 'text' THEN
                    EXECUTE format('SELECT count(*) FROM unnest($1::text[]) p
                                    WHERE (p::%s)::text IS DISTINCT FROM p', t_type)
                        INTO got USING run_pks;
                    IF got > 0 THEN
                        RAISE EXCEPTION 'ebb_push: a key spelled otherwise' USING ERRCODE = 'EB001';
                    END IF;
                END IF;
                PERFORM set_config('ebb.origin', run_dev, true);
                PERFORM set_config('ebb.push', format('{"tbl":%s,"device":%s,"changes":%s}',
                    to_json(t_name), to_json(run_dev), run_recs), true);
                EXECUTE format('WITH w AS (
                                    INSERT INTO public.%1$I AS t (%2$s)
                                    SELECT %3$s
                                    FROM jsonb_to_recordset($1) AS x(pk text, "row" jsonb),
                                         LATERAL jsonb_populate_record(NULL::public.%1$I, %5$s) AS r
                                    ON CONFLICT (%4$I) DO NOTHING
                                    RETURNING t._ebb_version)
                                SELECT count(*) FILTER (WHERE w._ebb_version = 1) FROM w',
                               t_name, v_list, run_sel, t_pk, _ebb.sent_row(t_name, t_zoned, 'x.row'))
                    INTO got USING run_src;
                IF got <> j - i THEN
                    RAISE EXCEPTION 'ebb_push: not every key of the run is new' USING ERRCODE = 'EB001';
                END IF;
                results := results
                    || array_fill('{"status": "applied", "version": 1}'::jsonb, ARRAY[j - i]);
                i := j;
                CONTINUE;
            EXCEPTION
                WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE;
                    IF _ebb.transient(code) THEN
                        RAISE;
                    END IF;
                    -- Undone: the run goes one by one.
            END;
        END IF;

        -- At most twice: the short way may hand the change to the long one.
        LOOP
            BEGIN
                res := NULL;
                tried := false;
                IF short AND t_type IS NOT NULL AND coalesce((c->>'base_version')::bigint, 0) = 0 THEN
                    v_sent := c->>'pk';
                    IF t_type = 'text' THEN
                        v_pk := v_sent;
                    ELSE
                        EXECUTE format('SELECT ($1::%s)::text', t_type) INTO v_pk USING v_sent;
                    END IF;
                    -- A key the server spells otherwise: the long way refuses it.
                    IF v_pk = v_sent THEN
                        v_row := c->'row' || jsonb_build_object(t_pk, v_pk);
                        tried := true;
                        PERFORM set_config('ebb.origin', c->>'device', true);
                        PERFORM set_config('ebb.push', jsonb_build_object('tbl', t_name,
                            'device', c->>'device', 'changes', jsonb_build_array(jsonb_build_object(
                                'pk', v_pk, 'counter', (c->>'counter')::bigint,
                                'hash', md5('upsert:0:' || (c->'row')::text), 'base', 0)))::text, true);
                        IF t_new IS NOT NULL AND v_row ?& t_cols THEN
                            -- Every column: the table's own insert.
                            EXECUTE format('SELECT _ebb.%I($1)', t_new) INTO v_ver USING v_row;
                        ELSE
                            SELECT string_agg(format('%I', k), ', ' ORDER BY o) INTO v_list
                            FROM unnest(t_cols) WITH ORDINALITY AS u(k, o) WHERE v_row ? k;
                            t_zoned := coalesce(t_zoned, _ebb.zoned(t_rel), false);
                            EXECUTE _ebb.push_new_query(t_name, t_pk, v_list, t_zoned)
                                INTO v_ver USING v_row;
                        END IF;
                        IF v_ver = 1 THEN
                            res := jsonb_build_object('status', 'applied', 'version', v_ver);
                        ELSIF v_ver IS NOT NULL THEN
                            RAISE EXCEPTION 'ebb_push: key revived from a tombstone' USING ERRCODE = 'EB001';
                        END IF;
                    END IF;
                END IF;
                IF res IS NULL THEN
                    res := public._ebb_push_one(c);
                END IF;
                EXIT;
            EXCEPTION
                WHEN SQLSTATE 'EB001' THEN
                    short := false;
                WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                            detail = PG_EXCEPTION_DETAIL;
                    IF _ebb.transient(code) THEN
                        RAISE;
                    END IF;
                    -- Refused on the short way: the long way decides. The key
                    -- may have history the short way cannot see: an exact
                    -- retry of our insert that another device deleted since,
                    -- with its parent, breaks the foreign key when inserted
                    -- again, where the long way answers what it answered.
                    -- A new key is refused there with the same error.
                    IF tried THEN
                        short := false;
                    ELSE
                        res := jsonb_build_object('status', 'rejected', 'code', code,
                            'message', msg || coalesce(': ' || nullif(detail, ''), ''));
                        EXIT;
                    END IF;
            END;
        END LOOP;
        results := results || res;
        i := i + 1;
    END LOOP;
    -- The rest of the caller's transaction is not ebb's.
    PERFORM set_config('ebb.push', '', true);
    PERFORM set_config('ebb.origin', '', true);
    RETURN jsonb_build_object('results', to_jsonb(results));
END
$fn$;
