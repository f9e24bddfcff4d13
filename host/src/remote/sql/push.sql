-- One change of a push, in its own subtransaction (see ebb_push). Returns
-- the PushResult JSON. Names and types come from the catalog and _ebb_tables,
-- quoted with format('%I'); request values travel only through USING.
CREATE OR REPLACE FUNCTION public._ebb_push_one(c jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    v_tbl     text := c->>'table';
    v_pk      text := c->>'pk';
    v_op      text := c->>'op';
    v_base    bigint := coalesce((c->>'base_version')::bigint, 0);
    v_row     jsonb := c->'row';
    v_device  text := c->>'device';
    v_counter bigint := (c->>'counter')::bigint;
    rel       oid;
    pkcol     text;
    pktype    text;
    cols      text;
    sets      text;
    cur_row   jsonb;
    cur_ver   bigint;
    new_ver   bigint;
    prev      record;
    result    jsonb;
BEGIN
    IF v_tbl IS NULL OR v_pk IS NULL OR v_device IS NULL OR v_counter IS NULL
       OR v_op IS NULL OR v_op NOT IN ('upsert', 'delete') THEN
        RAISE EXCEPTION 'ebb_push: a change needs table, pk, op (upsert|delete), device and counter'
            USING ERRCODE = '22023';
    END IF;
    SELECT t.pk INTO pkcol FROM public._ebb_tables t WHERE t.tbl = v_tbl;
    rel := to_regclass(format('public.%I', v_tbl));
    IF pkcol IS NULL OR rel IS NULL THEN
        RAISE EXCEPTION 'ebb_push: table "%" is not synced by ebb (not in _ebb_tables)', v_tbl
            USING ERRCODE = '42P01';
    END IF;
    SELECT format_type(a.atttypid, a.atttypmod) INTO pktype FROM pg_attribute a
    WHERE a.attrelid = rel AND a.attname = pkcol AND NOT a.attisdropped;

    -- The key as the server spells it ('0042'::int -> '42'), so retries,
    -- tombstones and pulls agree on it.
    EXECUTE format('SELECT ($1::%s)::text', pktype) INTO v_pk USING v_pk;
    PERFORM set_config('ebb.origin', v_device, true);

    -- Already answered: a retry of this change, or an older change of a row
    -- that a newer one from the same device has since replaced. Either way
    -- the stored answer is the current truth for this device and row.
    SELECT a.counter, a.result INTO prev FROM public._ebb_applied a
    WHERE a.device = v_device AND a.tbl = v_tbl AND a.pk = v_pk;
    IF FOUND AND prev.counter >= v_counter THEN
        RETURN prev.result;
    END IF;

    EXECUTE format('SELECT to_jsonb(t) FROM public.%I t WHERE t.%I = $1::%s FOR UPDATE',
                   v_tbl, pkcol, pktype) INTO cur_row USING v_pk;
    IF cur_row IS NOT NULL THEN
        cur_ver := (cur_row->>'_ebb_version')::bigint;
    ELSE
        SELECT d.version INTO cur_ver FROM public._ebb_tombstones d
        WHERE d.tbl = v_tbl AND d.pk = v_pk;
        cur_ver := coalesce(cur_ver, 0);
    END IF;

    IF v_op = 'delete' AND cur_row IS NULL THEN
        -- Already gone (or never there): nothing to do.
        result := jsonb_build_object('status', 'applied', 'version', cur_ver);
    ELSIF v_base <> cur_ver THEN
        RETURN jsonb_build_object('status', 'conflict', 'version', cur_ver,
            'row', public._ebb_strip(cur_row), 'deleted', cur_row IS NULL);
    ELSIF v_op = 'delete' THEN
        EXECUTE format('DELETE FROM public.%I t WHERE t.%I = $1::%s', v_tbl, pkcol, pktype)
            USING v_pk;
        SELECT d.version INTO new_ver FROM public._ebb_tombstones d
        WHERE d.tbl = v_tbl AND d.pk = v_pk;
        result := jsonb_build_object('status', 'applied', 'version', new_ver);
    ELSE
        IF v_row IS NULL OR jsonb_typeof(v_row) <> 'object' THEN
            RAISE EXCEPTION 'ebb_push: an upsert needs the row as a JSON object'
                USING ERRCODE = '22023';
        END IF;
        v_row := public._ebb_strip(v_row) || jsonb_build_object(pkcol, v_pk);
        -- The row's keys that are real, writable columns.
        SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
               string_agg(format('%1$I = excluded.%1$I', a.attname), ', ' ORDER BY a.attnum)
                   FILTER (WHERE a.attname <> pkcol)
          INTO cols, sets
        FROM pg_attribute a
        WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attgenerated = '' AND left(a.attname, 5) <> '_ebb_'
          AND v_row ? a.attname;
        EXECUTE format('INSERT INTO public.%1$I AS t (%2$s)
                        SELECT %2$s FROM jsonb_populate_record(NULL::public.%1$I, $1)
                        ON CONFLICT (%3$I) DO UPDATE SET %4$s
                        WHERE t._ebb_version = $2
                        RETURNING t._ebb_version',
                       v_tbl, cols, pkcol, coalesce(sets, format('%1$I = excluded.%1$I', pkcol)))
            INTO new_ver USING v_row, v_base;
        IF new_ver IS NULL THEN
            -- Lost a race with a concurrent writer that committed first.
            EXECUTE format('SELECT to_jsonb(t) FROM public.%I t WHERE t.%I = $1::%s',
                           v_tbl, pkcol, pktype) INTO cur_row USING v_pk;
            RETURN jsonb_build_object('status', 'conflict',
                'version', coalesce((cur_row->>'_ebb_version')::bigint, 0),
                'row', public._ebb_strip(cur_row), 'deleted', cur_row IS NULL);
        END IF;
        result := jsonb_build_object('status', 'applied', 'version', new_ver);
    END IF;

    INSERT INTO public._ebb_applied AS a (device, tbl, pk, counter, result)
    VALUES (v_device, v_tbl, v_pk, v_counter, result)
    ON CONFLICT (device, tbl, pk) DO UPDATE SET counter = excluded.counter, result = excluded.result;
    RETURN result;
END
$fn$;

-- Applies a batch of changes (a JSON array of model::Change) in one
-- transaction and answers {"results": [PushResult, ...]} in order. A change
-- that breaks a constraint is rejected with its SQLSTATE and the batch goes
-- on; transient failures (serialization, deadlock, resources, shutdown)
-- abort the whole call so the client retries it.
CREATE OR REPLACE FUNCTION public.ebb_push(changes jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    c       jsonb;
    results jsonb := '[]'::jsonb;
    res     jsonb;
    code    text;
    msg     text;
    detail  text;
BEGIN
    IF changes IS NULL OR jsonb_typeof(changes) <> 'array' THEN
        RAISE EXCEPTION 'ebb_push: changes must be a JSON array' USING ERRCODE = '22023';
    END IF;
    FOR c IN SELECT e.value FROM jsonb_array_elements(changes) AS e LOOP
        BEGIN
            res := public._ebb_push_one(c);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    detail = PG_EXCEPTION_DETAIL;
            IF left(code, 2) IN ('40', '53', '57', '58', 'XX') OR code = '55P03' THEN
                RAISE;
            END IF;
            res := jsonb_build_object('status', 'rejected', 'code', code,
                'message', msg || coalesce(': ' || nullif(detail, ''), ''));
        END;
        results := results || jsonb_build_array(res);
    END LOOP;
    RETURN jsonb_build_object('results', results);
END
$fn$;
