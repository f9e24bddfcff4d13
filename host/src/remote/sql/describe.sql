-- The columns of one synced table as the server declares them, for `ebb
-- check` to compare with the local ones: [{"column", "type", "nullable"}]
-- in column order (type as format_type spells it), ebb's own _ebb_*
-- columns left out. A timestamptz column also carries "time_zone", the
-- zone in which ebb_push reads a time written without one: UTC
-- (`_ebb.utc`; an install before it read such a time in the session's
-- zone and said so here). Only tables in the allowlist. SECURITY INVOKER: it reads only the
-- catalog, which every role may read.
CREATE OR REPLACE FUNCTION public.ebb_describe(tbl text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    rel  oid;
    cols jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public._ebb_tables t WHERE t.tbl = ebb_describe.tbl) THEN
        RAISE EXCEPTION 'ebb_describe: table "%" is not synced by ebb (not in _ebb_tables)', ebb_describe.tbl
            USING ERRCODE = '22023';
    END IF;
    rel := to_regclass(format('public.%I', ebb_describe.tbl));
    IF rel IS NULL THEN
        RAISE EXCEPTION 'ebb_describe: table "%" does not exist', ebb_describe.tbl
            USING ERRCODE = '42P01';
    END IF;
    SELECT coalesce(jsonb_agg(
               jsonb_build_object('column', a.attname,
                                  'type', format_type(a.atttypid, a.atttypmod),
                                  'nullable', NOT a.attnotnull)
               || CASE WHEN a.atttypid = 'timestamptz'::regtype
                       THEN jsonb_build_object('time_zone', 'UTC')
                       ELSE '{}'::jsonb END
               ORDER BY a.attnum), '[]'::jsonb)
      INTO cols
    FROM pg_attribute a
    WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
      AND left(a.attname, 5) <> '_ebb_';
    RETURN cols;
END
$fn$;
