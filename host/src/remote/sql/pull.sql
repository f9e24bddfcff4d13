-- Rows of one table changed after `cursor`, at most `page` of them, ordered
-- by (txid, pk), live rows and tombstones together. Only rows written by
-- transactions older than every transaction still in flight are returned
-- (txid < pg_snapshot_xmin), so a transaction that commits late delays rows
-- but never makes a reader skip them. Tombstones are read as the caller
-- too, from _ebb_deleted.<tbl> under the table's own read policies
-- (deleted.sql): a role gets the deletes of exactly the rows it could see.
--
-- The page is built as `json` (text), not `jsonb`: each row's columns are
-- named once in the statement (the table's own function, written by the
-- install, or from the catalog per call) and written out as they come, without building and stripping a binary object per row
-- (a third of the cost per row of the jsonb way, measured on 1M rows).
-- It returned `jsonb` before: that function is dropped (a function's result
-- type cannot be replaced) and the EXECUTE grants it had, the user's own
-- roles' too, are given to the new one.
CREATE TEMP TABLE _ebb_pull_grants ON COMMIT DROP AS
    SELECT x.grantee FROM pg_proc p, aclexplode(p.proacl) x
    WHERE p.oid = to_regprocedure('public.ebb_pull(text, jsonb, integer)')
      AND p.prorettype = 'jsonb'::regtype AND x.privilege_type = 'EXECUTE';
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc p
               WHERE p.oid = to_regprocedure('public.ebb_pull(text, jsonb, integer)')
                 AND p.prorettype = 'jsonb'::regtype) THEN
        DROP FUNCTION public.ebb_pull(text, jsonb, integer);
    END IF;
END
$do$;
-- The statement of one page of a table (see ebb_pull), for the table's
-- key column `pkcol` and its own columns `cols` ("t.a, t.b"): $1 the
-- horizon, $2 the cursor's txid, $3 its key, $4 the page size. Answers
-- (rows json, has_more, last txid, last key). Each row is an object
-- {"pk", "version", "txid", "deleted", "origin", "row"} with the row as an
-- object; with `arrays`, the array [pk, version, txid, deleted, origin,
-- row] with the row as the array of its values in the order of `cols`
-- (which ebb_pull then names once in the page): a third less of the
-- server's time a row (no key written per field) and a third less to
-- send. `arrays` only for at most 90 columns (json_build_array takes 100
-- arguments). It had no `arrays` before: that one is dropped.
DROP FUNCTION IF EXISTS _ebb.pull_query(text, text, text);
CREATE OR REPLACE FUNCTION _ebb.pull_query(pkcol text, tbl text, cols text, arrays boolean)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT format($q$
        WITH k AS (
            SELECT u.*, row_number() OVER (ORDER BY u.txid, u.pk) AS n FROM (
                -- Ordered and limited on its own, so the (txid, key) index
                -- yields one page and stops.
                (SELECT t._ebb_txid AS txid, t.%1$I::text COLLATE "C" AS pk, t._ebb_version AS version,
                       false AS deleted, t._ebb_origin AS origin,
                       %4$s AS row
                FROM public.%2$I t
                WHERE t._ebb_txid < $1 AND t._ebb_txid >= $2
                  AND (t._ebb_txid, t.%1$I::text COLLATE "C") > ($2, $3 COLLATE "C")
                ORDER BY 1, 2
                LIMIT $4 + 1)
                UNION ALL
                -- Tombstones, as the caller: the policies copied from the
                -- table decide which (the index serves them in order).
                (SELECT d._ebb_txid, d._ebb_pk, d._ebb_version, true, d._ebb_origin, NULL::json
                FROM _ebb_deleted.%2$I d
                WHERE d._ebb_txid < $1 AND d._ebb_txid >= $2
                  AND (d._ebb_txid, d._ebb_pk) > ($2, $3 COLLATE "C")
                ORDER BY 1, 2
                LIMIT $4 + 1)
            ) u
            ORDER BY u.txid, u.pk
            LIMIT $4 + 1
        )
        SELECT coalesce(json_agg(%5$s ORDER BY k.n) FILTER (WHERE k.n <= $4), '[]'::json),
               count(*) > $4,
               max(k.txid::text) FILTER (WHERE k.n = least($4, (SELECT count(*) FROM k))),
               max(k.pk) FILTER (WHERE k.n = least($4, (SELECT count(*) FROM k)))
        FROM k
    $q$, pkcol, tbl, cols,
    CASE WHEN arrays THEN format('json_build_array(%s)', cols)
         ELSE format('(SELECT row_to_json(r) FROM (SELECT %s) r)', cols) END,
    CASE WHEN arrays THEN 'json_build_array(k.pk, k.version, k.txid::text, k.deleted, k.origin, k.row)'
         ELSE $e$json_build_object('pk', k.pk, 'version', k.version, 'txid', k.txid::text,
                 'deleted', k.deleted, 'origin', k.origin, 'row', k.row)$e$ END)
$fn$;

-- Whether a table has anything after a cursor ($1 txid, $2 key): the
-- WHERE clauses of `pull_query`, rows and tombstones, as the caller, but
-- for the horizon (a row held back by it is something: ebb_pull then
-- answers as it always did). The install writes it into the table's own
-- function (planned once per session, see ebb_pull).
CREATE OR REPLACE FUNCTION _ebb.pull_any(pkcol text, tbl text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT format($q$
        EXISTS (SELECT 1 FROM public.%2$I t
                WHERE t._ebb_txid >= $1
                  AND (t._ebb_txid, t.%1$I::text COLLATE "C") > ($1, $2 COLLATE "C"))
        OR EXISTS (SELECT 1 FROM _ebb_deleted.%2$I d
                   WHERE d._ebb_txid >= $1
                     AND (d._ebb_txid, d._ebb_pk) > ($1, $2 COLLATE "C"))
    $q$, pkcol, tbl)
$fn$;

CREATE OR REPLACE FUNCTION public.ebb_pull(tbl text, cursor jsonb DEFAULT NULL, page integer DEFAULT 500)
RETURNS json
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, public
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    pkcol    text;
    rls      text;
    cols     text;
    fn       text;
    fn_cols  text;
    fn_any   text;
    fn_rows  text;
    names    json;
    ncols    integer;
    -- The caller reads rows as arrays (a cursor {"rows": "arrays"}; a
    -- till from before arrays asks nothing and gets objects).
    arrays   boolean := coalesce(ebb_pull.cursor->>'rows' = 'arrays', false);
    any_after boolean;
    rel      oid := to_regclass(format('public.%I', ebb_pull.tbl));
    snap     pg_snapshot := pg_current_snapshot();
    horizon  xid8 := pg_snapshot_xmin(snap);
    c_txid   text := coalesce(ebb_pull.cursor->>'txid', '');
    c_pk     text := coalesce(ebb_pull.cursor->>'pk', '');
    from_txid xid8 := coalesce(nullif(c_txid, ''), '0')::xid8;
    page_rows json;
    has_more boolean;
    last_txid text;
    last_pk  text;
BEGIN
    SELECT t.pk, t.rls, t.pull_fn, t.pull_cols, t.pull_any, t.pull_rows
    INTO pkcol, rls, fn, fn_cols, fn_any, fn_rows
    FROM public._ebb_tables t WHERE t.tbl = ebb_pull.tbl;
    IF pkcol IS NULL OR rel IS NULL THEN
        RAISE EXCEPTION 'ebb_pull: table "%" is not synced by ebb (not in _ebb_tables)', ebb_pull.tbl
            USING ERRCODE = '22023';
    END IF;
    IF page IS NULL OR page < 1 THEN
        RAISE EXCEPTION 'ebb_pull: page must be at least 1' USING ERRCODE = '22023';
    END IF;
    IF ebb_pull.cursor IS NOT NULL AND jsonb_typeof(ebb_pull.cursor) NOT IN ('object', 'null') THEN
        RAISE EXCEPTION 'ebb_pull: cursor must be {"txid": "...", "pk": "..."}' USING ERRCODE = '22023';
    END IF;
    -- The copy of the read policies on the tombstones is out of date: they
    -- might reach roles that may no longer see the rows, or miss some.
    IF rls IS DISTINCT FROM _ebb.rls_print(rel) THEN
        RAISE EXCEPTION 'ebb_pull: the row level security of table "%" changed since ebb was installed; apply `ebb remote-sql` again', ebb_pull.tbl
            USING ERRCODE = 'P0001',
                  HINT = 'The install script copies each synced table''s read policies to its deleted rows, so deletes reach exactly the roles that could see the rows.';
    END IF;
    -- Nothing at all after the cursor (most tables in most rounds): the
    -- empty page, without reading the columns and running the page
    -- statement (half of the call's time). The look is the caller's, under
    -- the policies a page is read under, so it says nothing a page would
    -- not; a table with anything after the cursor is answered as always.
    IF fn_any IS NOT NULL THEN
        EXECUTE format('SELECT _ebb.%I($1, $2)', fn_any) INTO any_after
            USING from_txid, c_pk;
    END IF;
    IF any_after IS NOT DISTINCT FROM false THEN
        page_rows := '[]'::json;
        has_more := false;
    ELSE
        -- The row's own columns, as to_json would name them (not ebb's).
        SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY a.attnum),
               json_agg(a.attname ORDER BY a.attnum), count(*)
        INTO cols, names, ncols
        FROM pg_attribute a
        WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
          AND left(a.attname, 5) <> '_ebb_';
        arrays := arrays AND ncols <= 90;
        IF arrays THEN
            fn := fn_rows;
        END IF;

        -- The table's own function (planned once per session) while its
        -- columns are those it was written for; else the same query, planned
        -- for this call. One more row than the page says whether there are more.
        IF fn IS NOT NULL AND fn_cols = cols THEN
            EXECUTE format('SELECT * FROM _ebb.%I($1, $2, $3, $4)', fn)
            INTO page_rows, has_more, last_txid, last_pk
            USING horizon, from_txid, c_pk, page;
        ELSE
            EXECUTE _ebb.pull_query(pkcol, ebb_pull.tbl, cols, arrays)
            INTO page_rows, has_more, last_txid, last_pk
            USING horizon, from_txid, c_pk, page;
        END IF;
    END IF;

    RETURN json_build_object(
        -- The names of a row's values, when rows are arrays.
        'cols', CASE WHEN arrays AND any_after IS DISTINCT FROM false THEN names END,
        'rows', page_rows,
        'next', json_build_object('txid', coalesce(last_txid, c_txid), 'pk', coalesce(last_pk, c_pk)),
        'has_more', has_more,
        'horizon', horizon::text,
        -- Some transaction is still open: rows newer than it wait for it.
        'in_flight', horizon < pg_snapshot_xmax(snap));
END
$fn$;

DO $do$
DECLARE
    g oid;
BEGIN
    FOR g IN SELECT DISTINCT grantee FROM _ebb_pull_grants LOOP
        IF g = 0 THEN
            GRANT EXECUTE ON FUNCTION public.ebb_pull(text, jsonb, integer) TO PUBLIC;
        ELSE
            -- regrole's text is already quoted as an identifier.
            EXECUTE format('GRANT EXECUTE ON FUNCTION public.ebb_pull(text, jsonb, integer) TO %s',
                           g::regrole::text);
        END IF;
    END LOOP;
END
$do$;

-- The first page of every table a till syncs, in one call: a round with
-- nothing to pull is one request, whatever the number of tables. `cursors`
-- maps each table to its cursor (or null); the answer maps each to what
-- ebb_pull answers for it, in one snapshot. A table with more rows goes on
-- with ebb_pull. Any error is the whole call's (the till then pulls table
-- by table, where each error names its table).
CREATE OR REPLACE FUNCTION public.ebb_pull_all(cursors jsonb, page integer DEFAULT 500)
RETURNS json
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    answer json;
BEGIN
    IF ebb_pull_all.cursors IS NULL OR jsonb_typeof(ebb_pull_all.cursors) <> 'object' THEN
        RAISE EXCEPTION 'ebb_pull_all: cursors must be {"<table>": {"txid": "...", "pk": "..."} or null, ...}'
            USING ERRCODE = '22023';
    END IF;
    SELECT coalesce(json_object_agg(c.key, public.ebb_pull(c.key, c.value, ebb_pull_all.page)), '{}'::json)
    INTO answer
    FROM jsonb_each(ebb_pull_all.cursors) c;
    RETURN answer;
END
$fn$;

-- Writes the page statement of one table into a function of its own,
-- `_ebb.pull_<md5 of the table's name>`, with its names and columns in it, so
-- PostgreSQL plans it once per session (the same statement built and
-- planned per call cost ~0.3 ms of every ebb_pull). SECURITY INVOKER: it
-- reads as ebb_pull's caller, under the table's grants and policies.
-- Records it with the columns it was written for: ebb_pull uses it only
-- while the table still has exactly those columns (after an ALTER TABLE it
-- plans the statement per call until the install script runs again).
-- Temporary, as _ebb_install_table, which calls it.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_pull(p_tbl text, p_pk text) RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    -- From the hash alone: a name cut at 63 bytes (a long table name in
    -- a multi-byte script) could otherwise be another table's.
    name text := 'pull_' || md5(p_tbl);
    rel  oid := to_regclass(format('public.%I', p_tbl));
    cols text;
    ncols integer;
BEGIN
    SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY a.attnum), count(*) INTO cols, ncols
    FROM pg_attribute a
    WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
      AND left(a.attname, 5) <> '_ebb_';
    PERFORM pg_temp._ebb_install_fn(name, 'xid8, xid8, text, integer',
        'RETURNS TABLE (o_rows json, o_more boolean, o_txid text, o_pk text)', 'STABLE',
        format('BEGIN RETURN QUERY %s; END', _ebb.pull_query(p_pk, p_tbl, cols, false)),
        format('ebb: one page of public.%I for ebb_pull', p_tbl));
    IF ncols <= 90 THEN
        PERFORM pg_temp._ebb_install_fn(name || '_rows', 'xid8, xid8, text, integer',
            'RETURNS TABLE (o_rows json, o_more boolean, o_txid text, o_pk text)', 'STABLE',
            format('BEGIN RETURN QUERY %s; END', _ebb.pull_query(p_pk, p_tbl, cols, true)),
            format('ebb: one page of public.%I for ebb_pull, rows as arrays', p_tbl));
    END IF;
    PERFORM pg_temp._ebb_install_fn(name || '_any', 'xid8, text', 'RETURNS boolean', 'STABLE',
        format('BEGIN RETURN %s; END', _ebb.pull_any(p_pk, p_tbl)),
        format('ebb: whether public.%I has anything after a cursor, for ebb_pull', p_tbl));
    UPDATE public._ebb_tables SET pull_fn = name, pull_cols = cols, pull_any = name || '_any',
        pull_rows = CASE WHEN ncols <= 90 THEN name || '_rows' END
    WHERE tbl = p_tbl;
END
$fn$;

-- A push and the first page of every table in one call: a round that
-- pushes one edit is one request. `changes` goes to ebb_push exactly as
-- its own call would (its answer is "results"); then "pages" is what
-- ebb_pull_all answers for `cursors`, read after the push in the same
-- transaction (so this call's own writes, not yet committed, are not in
-- it: they come with a later pull). A failure of the pull half never
-- undoes the push: "pages" is then null with "pull_error", and the till
-- pulls as it would have (table by table, each error its own).
CREATE OR REPLACE FUNCTION public.ebb_push_pull(changes jsonb, cursors jsonb, page integer DEFAULT 500)
RETURNS json
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    pushed jsonb := public.ebb_push(ebb_push_pull.changes);
    pages  json;
    failed text;
BEGIN
    BEGIN
        pages := public.ebb_pull_all(ebb_push_pull.cursors, ebb_push_pull.page);
    EXCEPTION
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failed = MESSAGE_TEXT;
            pages := NULL;
    END;
    RETURN json_build_object('results', pushed->'results', 'pages', pages,
                             'pull_error', failed);
END
$fn$;
