-- Rows of one table changed after `cursor`, at most `page` of them, ordered
-- by (txid, pk), live rows and tombstones together. Only rows written by
-- transactions older than every transaction still in flight are returned
-- (txid < pg_snapshot_xmin), so a transaction that commits late delays rows
-- but never makes a reader skip them. Tombstones are read as the caller
-- too, from _ebb_deleted.<tbl> under the table's own read policies
-- (deleted.sql): a role gets the deletes of exactly the rows it could see.
CREATE OR REPLACE FUNCTION public.ebb_pull(tbl text, cursor jsonb DEFAULT NULL, page integer DEFAULT 500)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    pkcol    text;
    rls      text;
    rel      oid := to_regclass(format('public.%I', ebb_pull.tbl));
    snap     pg_snapshot := pg_current_snapshot();
    horizon  xid8 := pg_snapshot_xmin(snap);
    c_txid   text := coalesce(ebb_pull.cursor->>'txid', '');
    c_pk     text := coalesce(ebb_pull.cursor->>'pk', '');
    from_txid xid8 := coalesce(nullif(c_txid, ''), '0')::xid8;
    page_rows jsonb;
    has_more boolean := false;
    last_row jsonb;
BEGIN
    SELECT t.pk, t.rls INTO pkcol, rls FROM public._ebb_tables t WHERE t.tbl = ebb_pull.tbl;
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

    -- Keys first (cheap, index on _ebb_txid), row content only for the page.
    EXECUTE format($q$
        WITH k AS (
            SELECT * FROM (
                -- Ordered and limited on its own, so the (txid, key) index
                -- yields one page and stops.
                (SELECT t._ebb_txid AS txid, t.%1$I::text COLLATE "C" AS pk, t._ebb_version AS version,
                       false AS deleted, t._ebb_origin AS origin, t.ctid AS rid
                FROM public.%2$I t
                WHERE t._ebb_txid < $1 AND t._ebb_txid >= $2
                  AND (t._ebb_txid, t.%1$I::text COLLATE "C") > ($2, $3 COLLATE "C")
                ORDER BY 1, 2
                LIMIT $4)
                UNION ALL
                -- Tombstones, as the caller: the policies copied from the
                -- table decide which (the index serves them in order).
                (SELECT d._ebb_txid, d._ebb_pk, d._ebb_version, true, d._ebb_origin, NULL::tid
                FROM _ebb_deleted.%2$I d
                WHERE d._ebb_txid < $1 AND d._ebb_txid >= $2
                  AND (d._ebb_txid, d._ebb_pk) > ($2, $3 COLLATE "C")
                ORDER BY 1, 2
                LIMIT $4)
            ) u
            ORDER BY u.txid, u.pk
            LIMIT $4
        )
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'pk', k.pk, 'version', k.version, 'txid', k.txid::text, 'deleted', k.deleted,
                   'origin', k.origin,
                   'row', CASE WHEN k.deleted THEN NULL ELSE public._ebb_strip(r.j) END)
                   ORDER BY k.txid, k.pk), '[]'::jsonb)
        FROM k LEFT JOIN LATERAL (
            -- A TID scan per row of the page (a plain join may hash the table).
            SELECT to_jsonb(t) AS j FROM public.%2$I t WHERE t.ctid = k.rid
        ) r ON true
    $q$, pkcol, ebb_pull.tbl)
    INTO page_rows
    USING horizon, from_txid, c_pk, page + 1;

    IF jsonb_array_length(page_rows) > page THEN
        has_more := true;
        page_rows := page_rows - page;
    END IF;
    last_row := page_rows->-1;
    RETURN jsonb_build_object(
        'rows', page_rows,
        'next', CASE WHEN last_row IS NULL THEN jsonb_build_object('txid', c_txid, 'pk', c_pk)
                     ELSE jsonb_build_object('txid', last_row->'txid', 'pk', last_row->'pk') END,
        'has_more', has_more,
        'horizon', horizon::text,
        -- Some transaction is still open: rows newer than it wait for it.
        'in_flight', horizon < pg_snapshot_xmax(snap));
END
$fn$;
