-- Bookkeeping tables. Plain objects in `public`, where PostgREST looks,
-- except what PostgREST must not serve: ebb's private helpers live in
-- schema `_ebb`, and the deleted rows of each synced table in a table of the
-- same name in schema `_ebb_deleted` (deleted.sql). PostgREST serves only
-- the schemas it is told to (`public` on Supabase), so neither is an
-- endpoint; the roles that sync may use them from inside ebb_push and
-- ebb_pull, which run as the caller.
CREATE SCHEMA IF NOT EXISTS _ebb;
CREATE SCHEMA IF NOT EXISTS _ebb_deleted;
REVOKE ALL ON SCHEMA _ebb, _ebb_deleted FROM PUBLIC;
GRANT USAGE ON SCHEMA _ebb, _ebb_deleted TO PUBLIC;

-- The allowlist: the only tables ebb_push and ebb_pull ever touch. `rls`
-- fingerprints the table's read policies as they were copied to its
-- deleted rows (see deleted.sql); ebb_pull refuses a table whose policies
-- changed since.
CREATE TABLE IF NOT EXISTS public._ebb_tables (
    tbl text PRIMARY KEY,
    pk  text NOT NULL
);
ALTER TABLE public._ebb_tables ADD COLUMN IF NOT EXISTS rls text;
-- The table's own page statements for ebb_pull (rows as objects, and as
-- arrays when the table has few enough columns) and the columns they were
-- written for (pull.sql).
ALTER TABLE public._ebb_tables
    ADD COLUMN IF NOT EXISTS pull_fn text,
    ADD COLUMN IF NOT EXISTS pull_cols text,
    ADD COLUMN IF NOT EXISTS pull_any text,
    ADD COLUMN IF NOT EXISTS pull_rows text;
-- The table's own statements for a pushed change, the key type and the
-- columns they were written for (push.sql).
ALTER TABLE public._ebb_tables
    ADD COLUMN IF NOT EXISTS push_fn text,
    ADD COLUMN IF NOT EXISTS push_key text,
    ADD COLUMN IF NOT EXISTS push_cols text;

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
-- tables' owner) and _ebb_applied is read only through _ebb.prior below,
-- never directly by the roles that sync. A role that could write
-- _ebb_applied could plant "applied" answers for another device's changes
-- (edits acknowledged, never written). Row level security with no policy
-- is a second lock: even a later GRANT (Supabase's default privileges
-- grant everything in `public` to its API roles) gives no row. The owner
-- is not subject to it. The allowlist is readable by all: the invoker
-- functions look the key column up in it. Deleted rows are read as the
-- caller, under the table's own policies (deleted.sql).
REVOKE ALL ON public._ebb_applied, public._ebb_tables FROM PUBLIC;
ALTER TABLE public._ebb_applied ENABLE ROW LEVEL SECURITY;
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

-- Whether an error ends a whole ebb_push call instead of one change:
-- serialization failures and deadlocks (40), resources (53), operator
-- intervention such as a statement timeout (57), system errors (58),
-- internal errors (XX) and a lock not available (55P03). The client
-- retries the call, or splits the batch on a timeout.
CREATE OR REPLACE FUNCTION _ebb.transient(code text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT left(code, 2) IN ('40', '53', '57', '58', 'XX') OR code = '55P03'
$fn$;

-- Whether a table has a column whose input reads a time without an offset
-- in the session's time zone: timestamptz, timetz, their ranges and
-- arrays, and domains over them. Asked by every push whose statement is
-- planned for the call (an ALTER TABLE may add one at any time); a table's
-- own push statements (push.sql) asked it when they were written, and are
-- used only while the written columns keep their types.
CREATE OR REPLACE FUNCTION _ebb.zoned(rel oid) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
    -- Each column's type looked up by its oid (a join hashed all of
    -- pg_type on every call: twice the time).
    RETURN EXISTS (
        SELECT 1 FROM pg_attribute a,
             LATERAL (SELECT t.typelem, t.typbasetype FROM pg_type t
                      WHERE t.oid = a.atttypid LIMIT 1) t
        WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
          AND ARRAY[a.atttypid, t.typelem, t.typbasetype] && ARRAY[
              'timestamptz'::regtype, 'timetz'::regtype, 'tstzrange'::regtype,
              -- (no multiranges before PostgreSQL 14: NULL, which matches nothing)
              to_regtype('tstzmultirange')]::oid[]);
END
$fn$;

-- `row` (a row of the table whose type `base` is, as JSON) with every
-- value that names a time without an offset read as UTC: each value goes
-- through the column's own input with TimeZone = UTC and comes back as
-- that type writes it (a timestamptz with "+00:00"), so the write that
-- follows reads the same instant in any session zone. Keys that are not
-- columns are left out; the others keep their values as the column's type
-- spells them. Only this conversion runs in UTC: the write, its defaults
-- and triggers keep the session's zone.
CREATE OR REPLACE FUNCTION _ebb.utc(base anyelement, row_json jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
SET TimeZone = 'UTC'
AS $fn$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(k.key, k.value), '{}'::jsonb)
            FROM jsonb_each(to_jsonb(jsonb_populate_record(base, row_json))) k
            WHERE row_json ? k.key);
END
$fn$;

-- The SQL expression a push writes row `arg` (a JSON object) of public.`tbl`
-- from: `arg` itself, or through `_ebb.utc` when the table has a column
-- that reads times in the session's zone (`zoned`, from _ebb.zoned).
CREATE OR REPLACE FUNCTION _ebb.sent_row(tbl text, zoned boolean, arg text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT CASE WHEN zoned THEN format('_ebb.utc(NULL::public.%I, %s)', tbl, arg) ELSE arg END
$fn$;

-- The statement that leaves a tombstone in _ebb_deleted.<p_tbl> for each
-- row of `p_source` (a row value `(SELECT ($1).*)`, a transition table,
-- or the whole table): its key as text, the version after the row's last,
-- this transaction, the origin $2, and the row's values of `p_keep`, the
-- columns the table's read policies look at, so that the same policies
-- decide who sees it. Those are matched by name through JSON: a column
-- renamed since the install leaves NULL (and ebb_pull asks for the script
-- again) instead of failing the user's DELETE. Builds text only.
CREATE OR REPLACE FUNCTION _ebb.bury(p_tbl text, p_pk text, p_keep text[], p_source text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT format(
        'INSERT INTO _ebb_deleted.%1$I AS d (_ebb_pk, _ebb_version, _ebb_txid, _ebb_origin%4$s)
         SELECT s.%2$I::text, s._ebb_version + 1, pg_current_xact_id(), $2::text%5$s
         FROM %3$s s%6$s
         ON CONFLICT (_ebb_pk) DO UPDATE
             SET _ebb_version = greatest(d._ebb_version, excluded._ebb_version),
                 _ebb_txid = excluded._ebb_txid, _ebb_origin = excluded._ebb_origin%7$s
         RETURNING d._ebb_pk, d._ebb_version',
        p_tbl, p_pk, p_source,
        string_agg(format(', %I', k), ''), string_agg(format(', k.%I', k), ''),
        CASE WHEN count(k) > 0 THEN format(
            ' CROSS JOIN LATERAL jsonb_populate_record(NULL::_ebb_deleted.%I, to_jsonb(s)) k', p_tbl)
        END,
        string_agg(format(', %1$I = excluded.%1$I', k), ''))
    FROM unnest(p_keep) AS k
$fn$;

-- Writes one of a table's own functions, `_ebb.<p_name>(<p_args>)`: PL/pgSQL,
-- SECURITY INVOKER (it reads and writes as the caller of ebb_push or
-- ebb_pull, under the table's grants and policies), planned once per
-- session, executable by anyone (what it may touch is the caller's), with
-- `p_comment`. The body is passed as a literal, so no column name in it
-- can end it. Temporary, as _ebb_install_table, whose helpers call it.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_fn(p_name text, p_args text, p_returns text,
                                                   p_volatility text, p_body text, p_comment text)
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION _ebb.%I(%s) %s
LANGUAGE plpgsql %s SECURITY INVOKER
SET search_path = pg_catalog, public
SET plan_cache_mode = force_generic_plan
AS %L$f$, p_name, p_args, p_returns, p_volatility, p_body);
    -- Named with its arguments (OUT ones are ignored there): another
    -- function of the same name would otherwise make the name ambiguous.
    EXECUTE format('GRANT EXECUTE ON FUNCTION _ebb.%I(%s) TO PUBLIC', p_name, p_args);
    EXECUTE format('COMMENT ON FUNCTION _ebb.%I(%s) IS %L', p_name, p_args, p_comment);
END
$fn$;

-- BEFORE INSERT OR UPDATE on each synced table: stamps the row with its
-- version, this transaction and the origin. Versions only go up, also
-- across delete + re-insert (the tombstone keeps the count). One function
-- per table, generated here, with the table's names written into it: its
-- statements are planned once per session, where a shared function built
-- them per row with EXECUTE (36 us a row of a 71 us insert, measured; now
-- about 4). TG_ARGV[0] is the pk column, TG_ARGV[1:] the columns its
-- tombstones keep. SECURITY DEFINER so clients need no rights to write
-- tombstones. Lives in `_ebb`, not served by PostgREST; trigger functions
-- cannot be called directly anyway. Returns its name.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_stamp(p_tbl text, p_pk text) RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    name text := 'stamp_' || left(p_tbl, 48) || '_' || left(md5(p_tbl), 8);
BEGIN
    -- The body as a literal: no column name can end it.
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION _ebb.%I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS %L$f$, name, format($b$
DECLARE
    tomb bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.%1$I::text IS NOT DISTINCT FROM NEW.%1$I::text THEN
        NEW._ebb_version := OLD._ebb_version + 1;
    ELSE
        -- A new key: continue from its tombstone, if any, and revive it.
        DELETE FROM _ebb_deleted.%2$I d WHERE d._ebb_pk = NEW.%1$I::text
        RETURNING d._ebb_version INTO tomb;
        NEW._ebb_version := greatest(coalesce(tomb, 0),
                                     CASE WHEN TG_OP = 'UPDATE' THEN OLD._ebb_version ELSE 0 END) + 1;
        IF TG_OP = 'UPDATE' THEN
            -- The primary key changed: the old key is gone for readers.
            EXECUTE _ebb.bury(TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1:], '(SELECT ($1).*)')
                USING OLD, nullif(current_setting('ebb.origin', true), '');
        END IF;
    END IF;
    NEW._ebb_txid := pg_current_xact_id();
    NEW._ebb_origin := nullif(current_setting('ebb.origin', true), '');
    RETURN NEW;
END
$b$, p_pk, p_tbl));
    EXECUTE format('REVOKE ALL ON FUNCTION _ebb.%I() FROM PUBLIC', name);
    EXECUTE format('COMMENT ON FUNCTION _ebb.%I() IS %L', name,
                   format('ebb: stamps the writes of public.%I (version, txid, origin)', p_tbl));
    RETURN name;
END
$fn$;

-- Records the changes of ebb_push as applied. ebb_push announces the
-- changes it is about to write in the transaction-local setting `ebb.push`:
-- {"tbl", "device", "changes": [{"pk", "counter", "hash", "base"}, ...]};
-- the AFTER statement trigger of the statement that wrote them records
-- each change whose row that statement wrote, with the version the row
-- got. Cascaded writes to other rows do not match and are not recorded.
-- So a record exists only if its write happened, under the invoker's
-- rights and row level security, in the same (sub)transaction: a change
-- that fails leaves no record. Once per statement, with the written rows
-- as the transition table _ebb_new: a batch of inserts is recorded in one
-- statement (see ebb_push), and a write that is not ebb_push's costs one
-- look at the setting per statement, not per row.
--
-- Why triggers and not a SECURITY DEFINER function that ebb_push calls:
-- ebb_push runs as the invoker, so the invoker would need EXECUTE on that
-- function, and PostgREST serves every function the caller may execute as
-- /rpc/...: any device could then record whatever it liked. Trigger
-- functions cannot be called directly; setting `ebb.push` needs a SQL
-- session, and then the writes it describes are real.

-- AFTER INSERT and AFTER UPDATE on each synced table, once per statement:
-- one function per table, generated here with the table's key column
-- written into it, so its statement is planned once per session (a shared
-- function built it with EXECUTE on every statement: 80 us of a one-edit
-- push of 0.7 ms). Named from the hash of the table's name alone (a name
-- cut at 63 bytes could be another table's). Returns its name.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_after(p_tbl text, p_pk text) RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    name text := 'after_' || md5(p_tbl);
BEGIN
    -- The body as a literal: no column name can end it.
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION _ebb.%I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS %L$f$, name, format($b$
DECLARE
    push jsonb := nullif(current_setting('ebb.push', true), '')::jsonb;
BEGIN
    IF push IS NULL OR push->>'tbl' IS DISTINCT FROM TG_TABLE_NAME THEN
        RETURN NULL;
    END IF;
    INSERT INTO public._ebb_applied AS a (device, tbl, pk, counter, hash, base, result)
    SELECT push->>'device', TG_TABLE_NAME, c.pk, c.counter, c.hash, c.base,
           jsonb_build_object('status', 'applied', 'version', n._ebb_version)
    FROM _ebb_new n
    JOIN jsonb_to_recordset(push->'changes') AS c(pk text, counter bigint, hash text, base bigint)
      ON c.pk = n.%I::text
    ON CONFLICT (device, tbl, pk) DO UPDATE
        SET counter = excluded.counter, hash = excluded.hash, base = excluded.base,
            result = excluded.result;
    RETURN NULL;
END
$b$, p_pk));
    EXECUTE format('REVOKE ALL ON FUNCTION _ebb.%I() FROM PUBLIC', name);
    EXECUTE format('COMMENT ON FUNCTION _ebb.%I() IS %L', name,
                   format('ebb: records the pushes written to public.%I', p_tbl));
    RETURN name;
END
$fn$;

-- AFTER DELETE on each synced table, once per statement (also for cascaded
-- deletes and deletes made directly on the server), with the deleted rows
-- as the transition table _ebb_gone: leave their tombstones in one
-- statement (a bulk delete writes them in bulk), and record the delete if
-- ebb_push made it (see above). Arguments as for _ebb_before_write.
CREATE OR REPLACE FUNCTION public._ebb_after_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $fn$
DECLARE
    push jsonb := nullif(current_setting('ebb.push', true), '')::jsonb;
    v_pk text;
    ver  bigint;
BEGIN
    IF push->>'tbl' IS DISTINCT FROM TG_TABLE_NAME THEN
        EXECUTE _ebb.bury(TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1:], '_ebb_gone')
            USING NULL::text, nullif(current_setting('ebb.origin', true), '');
        RETURN NULL;
    END IF;
    v_pk := push->'changes'->0->>'pk';
    EXECUTE format('WITH b AS (%s) SELECT max(b._ebb_version) FILTER (WHERE b._ebb_pk = $3) FROM b',
                   _ebb.bury(TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1:], '_ebb_gone'))
        INTO ver USING NULL::text, nullif(current_setting('ebb.origin', true), ''), v_pk;
    IF ver IS NOT NULL THEN
        INSERT INTO public._ebb_applied AS a (device, tbl, pk, counter, hash, base, result)
        VALUES (push->>'device', TG_TABLE_NAME, v_pk, (push->'changes'->0->>'counter')::bigint,
                push->'changes'->0->>'hash', (push->'changes'->0->>'base')::bigint,
                jsonb_build_object('status', 'applied', 'version', ver))
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
    EXECUTE _ebb.bury(TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1:], format('public.%I', TG_TABLE_NAME))
        USING NULL::text, nullif(current_setting('ebb.origin', true), '');
    RETURN NULL;
END
$fn$;

-- What ebb_push needs of _ebb_applied, read as its owner. It lives in
-- schema `_ebb`, which PostgREST does not serve: as public._ebb_prior (up
-- to this version) any device could ask it over REST about rows its
-- policies hide. ebb_push uses its answer only for a row the caller sees
-- (push.sql). A role with a SQL session of its own can still call it.
DROP FUNCTION IF EXISTS public._ebb_prior(text, text, text, bigint, text, bigint, bigint);

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
-- committed by now. PL/pgSQL with its plan kept: as a SQL function with
-- SET it was planned again on every call.
CREATE OR REPLACE FUNCTION _ebb.prior(
    p_device text, p_tbl text, p_pk text, p_counter bigint, p_hash text, p_base bigint,
    p_current bigint, OUT replay jsonb, OUT fast_forward boolean,
    OUT own_counter bigint, OUT own_version bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
    SELECT CASE WHEN a.counter = p_counter AND a.hash = p_hash THEN a.result END,
           coalesce(a.counter < p_counter AND a.base = p_base
                    AND (a.result->>'version')::bigint = p_current, false),
           CASE WHEN a.counter < p_counter AND a.base = p_base THEN a.counter END,
           CASE WHEN a.counter < p_counter AND a.base = p_base
                THEN (a.result->>'version')::bigint END
    INTO replay, fast_forward, own_counter, own_version
    FROM (SELECT) AS one
    LEFT JOIN public._ebb_applied a ON a.device = p_device AND a.tbl = p_tbl AND a.pk = p_pk;
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
    args text;
    after text;
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
    -- Its deleted rows, with the columns its read policies look at
    -- (deleted.sql); the triggers that write them are told which.
    SELECT string_agg(quote_literal(a), ', ')
      INTO args FROM unnest(array_prepend(p_pk, pg_temp._ebb_install_deleted(p_tbl))) AS a;
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_before_write ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_before_write BEFORE INSERT OR UPDATE ON public.%I
        FOR EACH ROW EXECUTE FUNCTION _ebb.%I(%s)', p_tbl, pg_temp._ebb_install_stamp(p_tbl, p_pk), args);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_write ON public.%I', p_tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_insert ON public.%I', p_tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_update ON public.%I', p_tbl);
    -- A trigger with transition tables has one event (PostgreSQL refuses
    -- INSERT OR UPDATE with REFERENCING): one each, same function.
    after := pg_temp._ebb_install_after(p_tbl, p_pk);
    EXECUTE format('CREATE TRIGGER _ebb_after_insert AFTER INSERT ON public.%I
        REFERENCING NEW TABLE AS _ebb_new
        FOR EACH STATEMENT EXECUTE FUNCTION _ebb.%I()', p_tbl, after);
    EXECUTE format('CREATE TRIGGER _ebb_after_update AFTER UPDATE ON public.%I
        REFERENCING NEW TABLE AS _ebb_new
        FOR EACH STATEMENT EXECUTE FUNCTION _ebb.%I()', p_tbl, after);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_after_delete ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_after_delete AFTER DELETE ON public.%I
        REFERENCING OLD TABLE AS _ebb_gone
        FOR EACH STATEMENT EXECUTE FUNCTION public._ebb_after_delete(%s)', p_tbl, args);
    EXECUTE format('DROP TRIGGER IF EXISTS _ebb_before_truncate ON public.%I', p_tbl);
    EXECUTE format('CREATE TRIGGER _ebb_before_truncate BEFORE TRUNCATE ON public.%I
        FOR EACH STATEMENT EXECUTE FUNCTION public._ebb_before_truncate(%s)', p_tbl, args);
    INSERT INTO public._ebb_tables (tbl, pk, rls) VALUES (p_tbl, p_pk, _ebb.rls_print(rel))
    ON CONFLICT (tbl) DO UPDATE SET pk = excluded.pk, rls = excluded.rls;
    PERFORM pg_temp._ebb_install_pull(p_tbl, p_pk);
    PERFORM pg_temp._ebb_install_push(p_tbl, p_pk);
END
$fn$;
