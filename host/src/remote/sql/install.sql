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

-- The last change ebb_push applied per (device, table, pk): `counter`, a
-- hash of (op, base, row) as sent, the base it was sent on, and the answer.
-- A retry of exactly that change gets the same answer instead of a conflict
-- with itself; a later change of the same device on the same base goes on
-- top of it (see _ebb_push_one). Written only by the AFTER triggers below,
-- so every record is the footprint of a row write that really happened.
CREATE TABLE IF NOT EXISTS public._ebb_applied (
    device  text   NOT NULL,
    tbl     text   NOT NULL,
    pk      text   NOT NULL,
    counter bigint NOT NULL,
    result  jsonb  NOT NULL,
    PRIMARY KEY (device, tbl, pk)
);
-- Added after the first release: older records (NULL hash) never replay.
ALTER TABLE public._ebb_applied
    ADD COLUMN IF NOT EXISTS hash text,
    ADD COLUMN IF NOT EXISTS base bigint;

-- Privileges. The bookkeeping is written only by ebb's SECURITY DEFINER
-- trigger functions (owned by whoever runs this script: a superuser or the
-- tables' owner) and read only through the SECURITY DEFINER functions
-- below, never directly by the roles that sync. A role that could write
-- _ebb_applied could plant "applied" answers for another device's changes
-- (edits acknowledged, never written); one that could read tombstones would
-- see deleted keys of every table. Row level security with no policy is a
-- second lock: even a later GRANT (Supabase's default privileges grant
-- everything in `public` to its API roles) gives no row. The owner is not
-- subject to it. The allowlist is readable by all: the invoker functions
-- look the key column up in it.
REVOKE ALL ON public._ebb_applied, public._ebb_tombstones, public._ebb_tables FROM PUBLIC;
ALTER TABLE public._ebb_applied ENABLE ROW LEVEL SECURITY;
ALTER TABLE public._ebb_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE public._ebb_tables ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS _ebb_tables_read ON public._ebb_tables;
CREATE POLICY _ebb_tables_read ON public._ebb_tables FOR SELECT USING (true);
GRANT SELECT ON public._ebb_tables TO PUBLIC;

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

-- Records a change of ebb_push as applied. ebb_push announces the change
-- it is about to write in the transaction-local setting `ebb.push` (table,
-- pk, device, counter, hash, base); the AFTER trigger of the row it names
-- records it with the version the row got. Cascaded writes to other rows
-- do not match and are not recorded. So the record exists only if the write
-- happened, under the invoker's rights and row level security, in the same
-- (sub)transaction: a change that fails leaves no record.
--
-- Why triggers and not a SECURITY DEFINER function that ebb_push calls:
-- ebb_push runs as the invoker, so the invoker would need EXECUTE on that
-- function, and PostgREST serves every function the caller may execute as
-- /rpc/...: any device could then record whatever it liked. Trigger
-- functions cannot be called directly; setting `ebb.push` needs a SQL
-- session, and then the write it describes is real.

-- AFTER INSERT OR UPDATE on each synced table; TG_ARGV[0] is the pk column.
CREATE OR REPLACE FUNCTION public._ebb_after_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    push   jsonb := nullif(current_setting('ebb.push', true), '')::jsonb;
    new_pk text;
BEGIN
    IF push IS NULL OR push->>'tbl' IS DISTINCT FROM TG_TABLE_NAME THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT ($1).%I::text', TG_ARGV[0]) INTO new_pk USING NEW;
    IF new_pk IS DISTINCT FROM push->>'pk' THEN
        RETURN NULL;
    END IF;
    INSERT INTO public._ebb_applied AS a (device, tbl, pk, counter, hash, base, result)
    VALUES (push->>'device', TG_TABLE_NAME, new_pk, (push->>'counter')::bigint, push->>'hash',
            (push->>'base')::bigint,
            jsonb_build_object('status', 'applied', 'version', NEW._ebb_version))
    ON CONFLICT (device, tbl, pk) DO UPDATE
        SET counter = excluded.counter, hash = excluded.hash, base = excluded.base,
            result = excluded.result;
    RETURN NULL;
END
$fn$;

-- AFTER DELETE on each synced table (also for cascaded deletes and deletes
-- made directly on the server): leave a tombstone, and record the delete
-- if ebb_push made it (see above).
CREATE OR REPLACE FUNCTION public._ebb_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    push   jsonb := nullif(current_setting('ebb.push', true), '')::jsonb;
    old_pk text;
    ver    bigint;
BEGIN
    EXECUTE format('SELECT ($1).%I::text', TG_ARGV[0]) INTO old_pk USING OLD;
    INSERT INTO public._ebb_tombstones AS t (tbl, pk, version, txid, origin)
    VALUES (TG_TABLE_NAME, old_pk, OLD._ebb_version + 1, pg_current_xact_id(),
            nullif(current_setting('ebb.origin', true), ''))
    ON CONFLICT (tbl, pk) DO UPDATE
        SET version = greatest(t.version, excluded.version),
            txid = excluded.txid, origin = excluded.origin
    RETURNING t.version INTO ver;
    IF push->>'tbl' = TG_TABLE_NAME AND push->>'pk' = old_pk THEN
        INSERT INTO public._ebb_applied AS a (device, tbl, pk, counter, hash, base, result)
        VALUES (push->>'device', TG_TABLE_NAME, old_pk, (push->>'counter')::bigint, push->>'hash',
                (push->>'base')::bigint, jsonb_build_object('status', 'applied', 'version', ver))
        ON CONFLICT (device, tbl, pk) DO UPDATE
            SET counter = excluded.counter, hash = excluded.hash, base = excluded.base,
                result = excluded.result;
    END IF;
    RETURN NULL;
END
$fn$;

-- BEFORE TRUNCATE on each synced table, once per statement (it also fires
-- for the tables a TRUNCATE ... CASCADE empties). TRUNCATE fires no row
-- triggers, so without this its rows would vanish without a trace and
-- stay on every device: leave a tombstone for each row it is about to
-- remove, as a DELETE would. Reads the table as its owner: whoever may
-- TRUNCATE it removes every row anyway, row level security or not.
CREATE OR REPLACE FUNCTION public._ebb_before_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
BEGIN
    EXECUTE format(
        'INSERT INTO public._ebb_tombstones AS t (tbl, pk, version, txid, origin)
         SELECT %L, s.%I::text, s._ebb_version + 1, pg_current_xact_id(),
                nullif(current_setting(''ebb.origin'', true), '''')
         FROM public.%I s
         ON CONFLICT (tbl, pk) DO UPDATE
             SET version = greatest(t.version, excluded.version),
                 txid = excluded.txid, origin = excluded.origin',
        TG_TABLE_NAME, TG_ARGV[0], TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;

-- Read-only windows on the bookkeeping for the SECURITY INVOKER functions.
-- They are served as RPCs too (every function a role may execute is), so
-- each answers only what ebb_push or ebb_pull would tell the caller anyway.

-- The version a deleted key had (0 when it has no tombstone).
CREATE OR REPLACE FUNCTION public._ebb_tombstone_version(p_tbl text, p_pk text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
    SELECT coalesce((SELECT d.version FROM public._ebb_tombstones d
                     WHERE d.tbl = p_tbl AND d.pk = p_pk), 0)
$fn$;

-- One page of tombstones of a table after (p_txid, p_pk), below p_horizon,
-- in ebb_pull's order.
CREATE OR REPLACE FUNCTION public._ebb_tombstones_after(
    p_tbl text, p_horizon xid8, p_txid xid8, p_pk text, p_limit integer)
RETURNS TABLE (txid xid8, pk text, version bigint, origin text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
    SELECT d.txid, d.pk COLLATE "C", d.version, d.origin
    FROM public._ebb_tombstones d
    WHERE d.tbl = p_tbl AND d.txid < p_horizon AND d.txid >= p_txid
      AND (d.txid, d.pk COLLATE "C") > (p_txid, p_pk COLLATE "C")
    ORDER BY d.txid, d.pk COLLATE "C"
    LIMIT p_limit
$fn$;

-- What this device was told before about this row, for a change it sends
-- now (see _ebb_push_one): `replay` is the stored answer when the change is
-- exactly the one recorded (same counter and hash); `fast_forward` says the
-- row is still at the version this device wrote last, and the change is a
-- later one on the same base the recorded one was sent on (its answer was
-- lost, so the device never learned the new version). `own_counter` and
-- `own_version` name that recorded write whenever the change is a later one
-- on the same base, even after others wrote on top: a conflict answer
-- carries them so the device merges from what it wrote, not from its stale
-- base (a counter edit whose answer was lost is then counted once). The
-- caller must hold the row lock, so a first attempt still in flight has
-- committed by now.
DROP FUNCTION IF EXISTS public._ebb_prior(text, text, text, bigint, text, bigint, bigint);
CREATE FUNCTION public._ebb_prior(
    p_device text, p_tbl text, p_pk text, p_counter bigint, p_hash text, p_base bigint,
    p_current bigint, OUT replay jsonb, OUT fast_forward boolean,
    OUT own_counter bigint, OUT own_version bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
    SELECT CASE WHEN a.counter = p_counter AND a.hash = p_hash THEN a.result END,
           coalesce(a.counter < p_counter AND a.base = p_base
                    AND (a.result->>'version')::bigint = p_current, false),
           CASE WHEN a.counter < p_counter AND a.base = p_base THEN a.counter END,
           CASE WHEN a.counter < p_counter AND a.base = p_base
                THEN (a.result->>'version')::bigint END
    FROM (SELECT) AS one
    LEFT JOIN public._ebb_applied a ON a.device = p_device AND a.tbl = p_tbl AND a.pk = p_pk
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
    -- ebb_pull walks (txid, key text) in order: this index hands it one
    -- page without sorting the rest of the table (a 100k-row initial pull
    -- sorted everything after the cursor on every page).
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON public.%I (_ebb_txid, (%I::text) COLLATE "C")',
                   left(p_tbl, 50) || '_ebb_pull_idx', p_tbl, p_pk);
    EXECUTE format('DROP INDEX IF EXISTS public.%I', left(p_tbl, 50) || '_ebb_txid_idx');
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_before_write ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_before_write BEFORE INSERT OR UPDATE ON public.%I
        FOR EACH ROW EXECUTE FUNCTION public._ebb_before_write(%L)', p_tbl, p_pk);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_write ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_after_write AFTER INSERT OR UPDATE ON public.%I
        FOR EACH ROW EXECUTE FUNCTION public._ebb_after_write(%L)', p_tbl, p_pk);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_delete ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_after_delete AFTER DELETE ON public.%I
        FOR EACH ROW EXECUTE FUNCTION public._ebb_after_delete(%L)', p_tbl, p_pk);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_before_truncate ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_before_truncate BEFORE TRUNCATE ON public.%I
        FOR EACH STATEMENT EXECUTE FUNCTION public._ebb_before_truncate(%L)', p_tbl, p_pk);
    INSERT INTO public._ebb_tables (tbl, pk) VALUES (p_tbl, p_pk)
    ON CONFLICT (tbl) DO UPDATE SET pk = excluded.pk;
END
$fn$;
