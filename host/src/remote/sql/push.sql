-- The upsert of one pushed row ($1, a JSON object with its key) into
-- public.`tbl` on the version $2: `cols` the columns written, `sets` the
-- assignments of the non-key ones (NULL: none), `zoned` whether the table
-- reads times in the session's zone (_ebb.sent_row). Answers the version
-- written, or no row when a concurrent write moved the version.
CREATE OR REPLACE FUNCTION _ebb.push_query(tbl text, pkcol text, cols text, sets text, zoned boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT format('INSERT INTO public.%1$I AS t (%2$s)
                   SELECT %2$s FROM jsonb_populate_record(NULL::public.%1$I, %5$s)
                   ON CONFLICT (%3$I) DO UPDATE SET %4$s
                   WHERE t._ebb_version = $2
                   RETURNING t._ebb_version',
                  tbl, cols, pkcol, coalesce(sets, format('%1$I = excluded.%1$I', pkcol)),
                  _ebb.sent_row(tbl, zoned, '$1'))
$fn$;

-- The writable columns of table `rel` (key `pkcol`), all of them or, for
-- a `row` (a JSON object), those it carries: their list, the assignments of
-- the non-key ones for ON CONFLICT, and their names and types (what a
-- table's own push statements were written for, see _ebb_install_push).
-- A set-returning function with no SET clause, names qualified: PostgreSQL
-- inlines it into the caller's statement (returning a record instead, it
-- was planned on every call: 80 us against 20).
CREATE OR REPLACE FUNCTION _ebb.push_columns(rel oid, pkcol text, "row" jsonb)
RETURNS TABLE (cols text, sets text, typed text)
LANGUAGE sql STABLE
AS $fn$
    SELECT pg_catalog.string_agg(pg_catalog.format('%I', a.attname), ', ' ORDER BY a.attnum),
           pg_catalog.string_agg(pg_catalog.format('%1$I = excluded.%1$I', a.attname), ', '
                                 ORDER BY a.attnum) FILTER (WHERE a.attname OPERATOR(pg_catalog.<>) pkcol),
           pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname, a.atttypid), ', '
                                 ORDER BY a.attnum)
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0
      AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''
      AND pg_catalog.left(a.attname, 5) OPERATOR(pg_catalog.<>) '_ebb_'
      AND ("row" IS NULL OR "row" OPERATOR(pg_catalog.?) a.attname)
$fn$;

-- How _ebb_push_one looks at the key $1 of public.`tbl` (key column
-- `pkcol` of type `pktype`), as three queries of one value each: the row
-- locked, as JSON (`t.*`: a column named t is not the row); whether the
-- caller sees it (when it could not lock it); and its tombstone's version.
-- No SET clause, names qualified: inlined into the caller.
CREATE OR REPLACE FUNCTION _ebb.lock_query(tbl text, pkcol text, pktype text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT ARRAY[
        pg_catalog.format('SELECT to_jsonb(t.*) FROM public.%I t WHERE t.%I = $1::%s FOR UPDATE',
                          tbl, pkcol, pktype),
        pg_catalog.format('SELECT EXISTS (SELECT 1 FROM public.%I t WHERE t.%I = $1::%s)',
                          tbl, pkcol, pktype),
        pg_catalog.format('SELECT d._ebb_version FROM _ebb_deleted.%I d WHERE d._ebb_pk = $1', tbl)]
$fn$;

-- The short way's insert of one fresh row ($1, with its key) into
-- public.`tbl` (push_batch.sql): `cols` the columns it carries. Answers the
-- version written, or no row when the key exists.
CREATE OR REPLACE FUNCTION _ebb.push_new_query(tbl text, pkcol text, cols text, zoned boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT format('INSERT INTO public.%1$I AS t (%2$s)
                   SELECT %2$s FROM jsonb_populate_record(NULL::public.%1$I, %4$s)
                   ON CONFLICT (%3$I) DO NOTHING
                   RETURNING t._ebb_version',
                  tbl, cols, pkcol, _ebb.sent_row(tbl, zoned, '$1'))
$fn$;

-- Writes the statements a push of one change runs on a table into
-- functions of its own, so PostgreSQL plans them once per session (built
-- and planned on every call they were a quarter of ebb_push of one edit:
-- the upsert 180 us against 55, the lock 21 against 7):
-- `_ebb.push_<md5>_new(row)` is the short way's insert of a fresh row that
-- carries every writable column (_ebb.push_new_query, push_batch.sql);
-- `_ebb.push_<md5 of the name>_lock(key)` locks the row and answers it as
-- JSON, or, when the caller cannot lock it, whether the caller sees it and
-- the version of its tombstone; `_ebb.push_<md5>(row, base)` is the upsert
-- of a row that carries every writable column (_ebb.push_query). All
-- SECURITY INVOKER, as _ebb_push_one's caller. Records the key's type and
-- the columns (names and types) they were written for: _ebb_push_one uses
-- them only while those still hold (a row with fewer columns, or a table
-- altered since the install, is written by the statement planned per call).
-- Temporary, as _ebb_install_table, which calls it.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_push(p_tbl text, p_pk text) RETURNS void
LANGUAGE plpgsql
-- The key's type spelled as _ebb_push_one spells it (format_type names
-- types outside the search path with their schema).
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    -- From the hash alone, as the pull's (pull.sql).
    name   text := 'push_' || md5(p_tbl);
    rel    oid := to_regclass(format('public.%I', p_tbl));
    pktype text;
    cols   text;
    sets   text;
    typed  text;
    fn     text;
    args   text;
    stmt   text;
    what   text;
BEGIN
    SELECT format_type(a.atttypid, a.atttypmod) INTO pktype FROM pg_attribute a
    WHERE a.attrelid = rel AND a.attname = p_pk AND NOT a.attisdropped;
    SELECT * INTO cols, sets, typed FROM _ebb.push_columns(rel, p_pk, NULL);
    -- Column names win over the functions' own names (#variable_conflict).
    PERFORM pg_temp._ebb_install_fn(name || '_lock',
        'text, OUT o_row jsonb, OUT o_visible boolean, OUT o_dead bigint', '', 'VOLATILE',
        format($b$#variable_conflict use_column
BEGIN
    o_row := (%s);
    o_visible := false;
    IF o_row IS NULL THEN
        o_visible := (%s);
        IF NOT o_visible THEN
            o_dead := (%s);
        END IF;
    END IF;
END$b$, VARIADIC _ebb.lock_query(p_tbl, p_pk, pktype)),
        format('ebb: a pushed row of public.%I locked, for _ebb_push_one', p_tbl));
    FOR fn, args, stmt, what IN VALUES
        (name, 'jsonb, bigint', _ebb.push_query(p_tbl, p_pk, cols, sets, _ebb.zoned(rel)),
         'written, for _ebb_push_one'),
        (name || '_new', 'jsonb', _ebb.push_new_query(p_tbl, p_pk, cols, _ebb.zoned(rel)),
         'inserted new, for ebb_push')
    LOOP
        PERFORM pg_temp._ebb_install_fn(fn, args, 'RETURNS bigint', 'VOLATILE',
            format($b$#variable_conflict use_column
DECLARE
    written bigint;
BEGIN
    %s INTO written;
    RETURN written;
END$b$, stmt),
            format('ebb: a pushed row of public.%I %s', p_tbl, what));
    END LOOP;
    UPDATE public._ebb_tables SET push_fn = name, push_key = pktype, push_cols = typed
    WHERE tbl = p_tbl;
END
$fn$;

-- One change of a push, in its own subtransaction (see ebb_push). Returns
-- the PushResult JSON. Names and types come from the catalog and _ebb_tables,
-- quoted with format('%I'); request values travel only through USING.
-- Runs as the invoker: the synced table and its tombstones (_ebb_deleted)
-- are read and written under the caller's rights and row level security,
-- so no answer names a row or a delete the caller could not see. The rest
-- of the bookkeeping is reached only through _ebb.prior and the triggers.
CREATE OR REPLACE FUNCTION public._ebb_push_one(c jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, public
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_tbl     text := c->>'table';
    v_sent    text := c->>'pk';
    v_op      text := c->>'op';
    v_base    bigint := coalesce((c->>'base_version')::bigint, 0);
    v_row     jsonb := c->'row';
    v_device  text := c->>'device';
    v_counter bigint := (c->>'counter')::bigint;
    v_pk      text;
    v_hash    text;
    base      bigint;
    rel       oid;
    pkcol     text;
    pktype    text;
    cols      text;
    sets      text;
    cur_row   jsonb;
    cur_ver   bigint;
    new_ver   bigint;
    n         bigint;
    visible   boolean;
    dead_ver  bigint;
    seen      boolean;
    prior     record;
    typed     text;
    own_fn    text;
    own_key   text;
    own_cols  text;
    lock      text[];
BEGIN
    IF v_tbl IS NULL OR v_sent IS NULL OR v_device IS NULL OR v_counter IS NULL
       OR v_op IS NULL OR v_op NOT IN ('upsert', 'delete') THEN
        RAISE EXCEPTION 'ebb_push: a change needs table, pk, op (upsert|delete), device and counter'
            USING ERRCODE = '22023';
    END IF;
    SELECT t.pk, t.push_fn, t.push_key, t.push_cols INTO pkcol, own_fn, own_key, own_cols
    FROM public._ebb_tables t WHERE t.tbl = v_tbl;
    rel := to_regclass(format('public.%I', v_tbl));
    IF pkcol IS NULL OR rel IS NULL THEN
        RAISE EXCEPTION 'ebb_push: table "%" is not synced by ebb (not in _ebb_tables)', v_tbl
            USING ERRCODE = '42P01';
    END IF;
    SELECT format_type(a.atttypid, a.atttypmod) INTO pktype FROM pg_attribute a
    WHERE a.attrelid = rel AND a.attname = pkcol AND NOT a.attisdropped;

    -- The key must be sent as the server spells it: '0042' for an integer
    -- key is stored as 42 and pulled back as "42", an upper-case uuid comes
    -- back in lower case, and the device would then hold the row twice.
    -- (A text key is spelled as sent: no statement to plan.)
    IF pktype = 'text' THEN
        v_pk := v_sent;
    ELSE
        EXECUTE format('SELECT ($1::%s)::text', pktype) INTO v_pk USING v_sent;
    END IF;
    IF v_pk IS DISTINCT FROM v_sent THEN
        RAISE EXCEPTION 'ebb_push: key "%" of table "%" is spelled "%" by the server; send it that way',
            v_sent, v_tbl, v_pk USING ERRCODE = '22023';
    END IF;
    IF v_op = 'upsert' AND (v_row IS NULL OR jsonb_typeof(v_row) <> 'object') THEN
        RAISE EXCEPTION 'ebb_push: an upsert needs the row as a JSON object' USING ERRCODE = '22023';
    END IF;

    -- What identifies this exact change besides its counter: a reused
    -- counter (a device restored from a backup, or cloned) with other
    -- content is a different change and must not get the stored answer.
    v_hash := md5(v_op || ':' || v_base || ':' || coalesce(v_row::text, ''));
    PERFORM set_config('ebb.origin', v_device, true);
    -- Tells the AFTER trigger of this row to record the change (install.sql).
    PERFORM set_config('ebb.push', jsonb_build_object('tbl', v_tbl, 'device', v_device,
        'changes', jsonb_build_array(jsonb_build_object('pk', v_pk, 'counter', v_counter,
            'hash', v_hash, 'base', v_base)))::text, true);
    IF v_op = 'upsert' THEN
        -- ebb's own keys need no stripping: they are never among `cols`.
        v_row := v_row || jsonb_build_object(pkcol, v_pk);
        -- The row's keys that are real, writable columns.
        SELECT * INTO cols, sets, typed FROM _ebb.push_columns(rel, pkcol, v_row);
    END IF;

    -- At most twice: a fresh insert that loses the race for its key to a
    -- writer that committed first (our own first attempt, say) holds that
    -- row's lock afterwards (ON CONFLICT DO UPDATE locks it even when its
    -- WHERE fails) and decides again on what is now there; likewise a row
    -- that appeared between the lock and the look (below).
    FOR attempt IN 1..2 LOOP
        -- Lock the row first, then look at what this device was told: a
        -- retry racing its first attempt waits here and then sees its answer.
        -- The table's own statements (_ebb_install_push, planned once per
        -- session) while its key has the type they were written for.
        IF own_fn IS NOT NULL AND own_key = pktype THEN
            EXECUTE format('SELECT * FROM _ebb.%I($1)', own_fn || '_lock')
                INTO cur_row, visible, dead_ver USING v_pk;
        ELSE
            lock := _ebb.lock_query(v_tbl, pkcol, pktype);
            EXECUTE lock[1] INTO cur_row USING v_pk;
            IF cur_row IS NULL THEN
                EXECUTE lock[2] INTO visible USING v_pk;
                IF NOT visible THEN
                    EXECUTE lock[3] INTO dead_ver USING v_pk;
                END IF;
            END IF;
        END IF;
        IF cur_row IS NOT NULL THEN
            cur_ver := (cur_row->>'_ebb_version')::bigint;
        ELSE
            -- Readable but not lockable: row level security lets the caller
            -- see the row but not change it. Not a deleted row. (Or an
            -- insert of the key committed just after the lock was tried:
            -- the first time round, try the lock again.)
            IF visible AND attempt = 1 THEN
                CONTINUE;
            ELSIF visible THEN
                RAISE EXCEPTION 'ebb_push: row "%" of table "%" may not be changed by this role (row level security)',
                    v_pk, v_tbl USING ERRCODE = '42501';
            END IF;
            -- Its tombstone, if the caller may see it.
            cur_ver := dead_ver;
        END IF;
        -- Neither row nor tombstone visible: the key is new to the caller.
        seen := cur_ver IS NOT NULL;
        cur_ver := coalesce(cur_ver, 0);

        -- The row still at the sent base: no earlier answer can apply
        -- (versions only go up, so a recorded change of this device was
        -- applied below the current version, never at it), and a fast
        -- forward would keep the same base. Skipped, it costs nothing.
        IF cur_ver = v_base THEN
            SELECT NULL::jsonb AS replay, false AS fast_forward,
                   NULL::bigint AS own_counter, NULL::bigint AS own_version INTO prior;
        ELSE
            SELECT * INTO prior FROM _ebb.prior(v_device, v_tbl, v_pk, v_counter, v_hash, v_base, cur_ver);
            IF NOT seen THEN
                -- Only an exact retry is answered for a key the caller
                -- cannot see (its own write moved the row out of its
                -- view): what the named device wrote there is not its
                -- business.
                prior.fast_forward := false;
                prior.own_counter := NULL;
                prior.own_version := NULL;
            END IF;
        END IF;
        IF prior.replay IS NOT NULL THEN
            RETURN prior.replay;
        END IF;
        -- The row is at the version this device wrote and whose answer it
        -- never got: its edit goes on top of its own write.
        base := CASE WHEN prior.fast_forward THEN cur_ver ELSE v_base END;

        IF v_op = 'delete' AND cur_row IS NULL THEN
            -- Already gone (or never there): nothing to do.
            RETURN jsonb_build_object('status', 'applied', 'version', cur_ver);
        ELSIF base <> cur_ver THEN
            -- Others wrote on top of a write of this device whose answer it
            -- never got: say which, so it merges from what it wrote.
            RETURN jsonb_build_object('status', 'conflict', 'version', cur_ver,
                'row', public._ebb_strip(cur_row), 'deleted', cur_row IS NULL)
                || CASE WHEN prior.own_counter IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('own', jsonb_build_object(
                            'counter', prior.own_counter, 'version', prior.own_version)) END;
        ELSIF v_op = 'delete' THEN
            EXECUTE format('DELETE FROM public.%I t WHERE t.%I = $1::%s RETURNING t._ebb_version',
                           v_tbl, pkcol, pktype)
                INTO new_ver USING v_pk;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n = 0 THEN
                -- Row level security hid the row from DELETE (no error).
                RAISE EXCEPTION 'ebb_push: row "%" of table "%" may not be deleted by this role (row level security)',
                    v_pk, v_tbl USING ERRCODE = '42501';
            END IF;
            -- The version its tombstone says: the caller sees it, as it
            -- saw the row (the same policies decide).
            EXECUTE format('SELECT d._ebb_version FROM _ebb_deleted.%I d WHERE d._ebb_pk = $1', v_tbl)
                INTO cur_ver USING v_pk;
            RETURN jsonb_build_object('status', 'applied', 'version', coalesce(cur_ver, new_ver + 1));
        END IF;
        IF own_fn IS NOT NULL AND own_cols = typed THEN
            -- A row with every column the table's own upsert writes, of the
            -- types it was written for: that statement.
            EXECUTE format('SELECT _ebb.%I($1, $2)', own_fn) INTO new_ver USING v_row, base;
            n := CASE WHEN new_ver IS NULL THEN 0 ELSE 1 END;
        ELSE
            -- Times without an offset read as UTC (_ebb.utc, see ebb_push).
            EXECUTE _ebb.push_query(v_tbl, pkcol, cols, sets, _ebb.zoned(rel))
                INTO new_ver USING v_row, base;
            GET DIAGNOSTICS n = ROW_COUNT;
        END IF;
        IF n > 0 AND new_ver IS NOT NULL THEN
            RETURN jsonb_build_object('status', 'applied', 'version', new_ver);
        END IF;
        -- 0 rows: a concurrent writer committed first (row level security
        -- raises instead of filtering an upsert). Decide again.
    END LOOP;

    -- Lost twice: only a trigger of the user's that skips the write gets
    -- here. Answer with what is there.
    -- (t.*: a column named t would otherwise be taken for the row)
    EXECUTE format('SELECT to_jsonb(t.*) FROM public.%I t WHERE t.%I = $1::%s',
                   v_tbl, pkcol, pktype) INTO cur_row USING v_pk;
    cur_ver := (cur_row->>'_ebb_version')::bigint;
    IF cur_row IS NULL THEN
        EXECUTE format('SELECT d._ebb_version FROM _ebb_deleted.%I d WHERE d._ebb_pk = $1', v_tbl)
            INTO cur_ver USING v_pk;
    END IF;
    RETURN jsonb_build_object('status', 'conflict', 'version', coalesce(cur_ver, 0),
        'row', public._ebb_strip(cur_row), 'deleted', cur_row IS NULL);
END
$fn$;
