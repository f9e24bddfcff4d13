-- Bookkeeping tables. Plain objects in `public`, where PostgREST looks.

-- The allowlist: the only tables ebb_push and ebb_pull ever touch.
CREATE TABLE IF NOT EXISTS public._ebb_tables (
    tbl text PRIMARY KEY,
    pk  text NOT NULL
);

-- One row per deleted record, so deletes propagate. A tombstone table rather
-- than a soft-delete column: a BEFORE DELETE trigger that turns a delete into
-- an UPDATE silently skips ON DELETE CASCADE (children stay, pointing at
-- nothing) and a DO INSTEAD rule makes cascades fail outright.
CREATE TABLE IF NOT EXISTS public._ebb_tombstones (
    tbl     text   NOT NULL,
    pk      text   NOT NULL,
    version bigint NOT NULL,
    txid    xid8   NOT NULL DEFAULT pg_current_xact_id(),
    origin  text,
    PRIMARY KEY (tbl, pk)
);
CREATE INDEX IF NOT EXISTS _ebb_tombstones_pull_idx ON public._ebb_tombstones (tbl, txid, pk);

-- What ebb_push answered per (device, table, pk): a retried change whose
-- answer was lost gets the same answer instead of a conflict with itself.
CREATE TABLE IF NOT EXISTS public._ebb_applied (
    device  text   NOT NULL,
    tbl     text   NOT NULL,
    pk      text   NOT NULL,
    counter bigint NOT NULL,
    result  jsonb  NOT NULL,
    PRIMARY KEY (device, tbl, pk)
);

-- A row as JSON without ebb's own columns.
CREATE OR REPLACE FUNCTION public._ebb_strip(r jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
    FROM jsonb_each(r) AS e
    WHERE left(e.key, 5) <> '_ebb_'
$fn$;

-- BEFORE INSERT OR UPDATE on each synced table; TG_ARGV[0] is the pk column.
-- Versions only go up, also across delete + re-insert (the tombstone keeps
-- the count). SECURITY DEFINER so clients need no rights on _ebb_tombstones.
CREATE OR REPLACE FUNCTION public._ebb_before_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    pkcol  text := TG_ARGV[0];
    new_pk text;
    old_pk text;
    tomb   bigint;
BEGIN
    EXECUTE format('SELECT ($1).%I::text', pkcol) INTO new_pk USING NEW;
    IF TG_OP = 'UPDATE' THEN
        EXECUTE format('SELECT ($1).%I::text', pkcol) INTO old_pk USING OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND old_pk IS NOT DISTINCT FROM new_pk THEN
        NEW._ebb_version := OLD._ebb_version + 1;
    ELSE
        -- A new key: continue from its tombstone, if any, and revive it.
        DELETE FROM public._ebb_tombstones t
        WHERE t.tbl = TG_TABLE_NAME AND t.pk = new_pk
        RETURNING t.version INTO tomb;
        NEW._ebb_version := greatest(coalesce(tomb, 0),
                                     CASE WHEN TG_OP = 'UPDATE' THEN OLD._ebb_version ELSE 0 END) + 1;
        IF TG_OP = 'UPDATE' THEN
            -- The primary key changed: the old key is gone for readers.
            INSERT INTO public._ebb_tombstones AS t (tbl, pk, version, txid, origin)
            VALUES (TG_TABLE_NAME, old_pk, OLD._ebb_version + 1, pg_current_xact_id(),
                    nullif(current_setting('ebb.origin', true), ''))
            ON CONFLICT (tbl, pk) DO UPDATE
                SET version = greatest(t.version, excluded.version),
                    txid = excluded.txid, origin = excluded.origin;
        END IF;
    END IF;
    NEW._ebb_txid := pg_current_xact_id();
    NEW._ebb_origin := nullif(current_setting('ebb.origin', true), '');
    RETURN NEW;
END
$fn$;

-- AFTER DELETE on each synced table (also for cascaded deletes and deletes
-- made directly on the server): leave a tombstone.
CREATE OR REPLACE FUNCTION public._ebb_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    old_pk text;
BEGIN
    EXECUTE format('SELECT ($1).%I::text', TG_ARGV[0]) INTO old_pk USING OLD;
    INSERT INTO public._ebb_tombstones AS t (tbl, pk, version, txid, origin)
    VALUES (TG_TABLE_NAME, old_pk, OLD._ebb_version + 1, pg_current_xact_id(),
            nullif(current_setting('ebb.origin', true), ''))
    ON CONFLICT (tbl, pk) DO UPDATE
        SET version = greatest(t.version, excluded.version),
            txid = excluded.txid, origin = excluded.origin;
    RETURN NULL;
END
$fn$;

-- Installs ebb on one existing table. Temporary: gone when this session ends,
-- so it is never served as an RPC.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_table(p_tbl text, p_pk text) RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    rel oid := to_regclass(format('public.%I', p_tbl));
    pk_attnum smallint;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'ebb: table public.% does not exist', quote_ident(p_tbl)
            USING HINT = 'Create your tables first; ebb adds its columns and triggers to them.';
    END IF;
    SELECT a.attnum INTO pk_attnum FROM pg_attribute a
    WHERE a.attrelid = rel AND a.attname = p_pk AND a.attnum > 0 AND NOT a.attisdropped;
    IF pk_attnum IS NULL THEN
        RAISE EXCEPTION 'ebb: table public.% has no column %', quote_ident(p_tbl), quote_ident(p_pk);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = rel AND i.indisunique AND i.indnkeyatts = 1
                     AND i.indkey[0] = pk_attnum AND i.indpred IS NULL AND i.indexprs IS NULL) THEN
        RAISE EXCEPTION 'ebb: column % of public.% is not a primary key', quote_ident(p_pk), quote_ident(p_tbl)
            USING HINT = 'ebb needs a one-column primary key (or unique, not null) to identify rows.';
    END IF;

    -- Rows that exist before ebb get version 1, so a device inserting the
    -- same key is told it exists (a conflict) rather than overwriting it.
    EXECUTE format('ALTER TABLE public.%I
        ADD COLUMN IF NOT EXISTS _ebb_version bigint NOT NULL DEFAULT 1,
        ADD COLUMN IF NOT EXISTS _ebb_txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        ADD COLUMN IF NOT EXISTS _ebb_origin text', p_tbl);
    EXECUTE format('ALTER TABLE public.%I ALTER COLUMN _ebb_version SET DEFAULT 0', p_tbl);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON public.%I (_ebb_txid)',
                   left(p_tbl, 50) || '_ebb_txid_idx', p_tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_before_write ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_before_write BEFORE INSERT OR UPDATE ON public.%I
        FOR EACH ROW EXECUTE FUNCTION public._ebb_before_write(%L)', p_tbl, p_pk);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_delete ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_after_delete AFTER DELETE ON public.%I
        FOR EACH ROW EXECUTE FUNCTION public._ebb_after_delete(%L)', p_tbl, p_pk);
    INSERT INTO public._ebb_tables (tbl, pk) VALUES (p_tbl, p_pk)
    ON CONFLICT (tbl) DO UPDATE SET pk = excluded.pk;
END
$fn$;
