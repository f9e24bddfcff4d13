-- Deleted rows, and who may see them.
--
-- One row per deleted record, so deletes propagate. A tombstone table rather
-- than a soft-delete column: a BEFORE DELETE trigger that turns a delete into
-- an UPDATE silently skips ON DELETE CASCADE (children stay, pointing at
-- nothing) and a DO INSTEAD rule makes cascades fail outright.
--
-- A tombstone must reach exactly the roles that could see the row: under
-- per-till or per-shop row level security, a deleted key, its version and
-- its txid tell another till which rows existed. So each synced table
-- public.<t> gets _ebb_deleted.<t>, of the same name (its read policies
-- then name their columns as `<t>.col` unchanged), holding per deleted key:
-- the key as text, the version, the txid and the origin, plus the deleted
-- row's values of the columns <t>'s read policies look at and nothing
-- else. It carries <t>'s read policies (FOR SELECT and FOR ALL, permissive
-- and restrictive, to the same roles), copied here, and one more: the
-- reader must be allowed to SELECT <t>. ebb_pull and ebb_push read it as
-- the caller, so PostgreSQL itself decides. A table without row level
-- security keeps only the key, and its tombstones reach everyone who may
-- read the table, as before.
--
-- The copy is taken when this script runs: re-run it after changing the
-- policies of a synced table (ebb_pull refuses the table until then, see
-- `rls` in _ebb_tables). Not copied: FORCE ROW LEVEL SECURITY (the
-- table's owner sees every tombstone) and a policy that cannot work on
-- another table (one that passes the whole row to a function taking the
-- table's row type): the script stops and names it.

-- The columns of a synced table that its read policies look at (USING of
-- FOR SELECT and FOR ALL policies; PostgreSQL records each column a
-- policy names in pg_depend), as the tombstone table declares them: the
-- type without modifiers (a widened varchar still fits), the collation
-- when not the type's own. Every column when a policy uses the whole row.
-- None without row level security.
CREATE OR REPLACE FUNCTION _ebb.policy_columns(p_rel oid) RETURNS TABLE (name text, type text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
    RETURN QUERY
    WITH pol AS (
        SELECT p.oid, p.polqual FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        WHERE p.polrelid = p_rel AND c.relrowsecurity AND p.polcmd IN ('r', '*')
          AND p.polqual IS NOT NULL
    )
    SELECT a.attname::text,
           format_type(a.atttypid, NULL)
           || CASE WHEN a.attcollation <> t.typcollation
                   THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped
      AND left(a.attname, 5) <> '_ebb_'
      AND (EXISTS (SELECT 1 FROM pol JOIN pg_depend d
                   ON d.classid = 'pg_policy'::regclass AND d.objid = pol.oid
                   WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = p_rel
                     AND d.refobjsubid = a.attnum)
           OR EXISTS (SELECT 1 FROM pol WHERE pol.polqual::text LIKE '%:varattno 0 %'))
    ORDER BY a.attnum;
END
$fn$;

-- A fingerprint of what decides who reads a table's tombstones: whether
-- row level security is on, its read policies (name, kind, roles, text)
-- and the columns they look at. Kept in _ebb_tables.rls by the install;
-- ebb_pull compares it on every call (a few catalog lookups). PL/pgSQL,
-- as policy_columns: its statements are planned once per session, where
-- a SQL function with SET is planned again on every call (a third of an
-- empty pull's server time). Both force the generic plan: PostgreSQL
-- otherwise kept planning policy_columns' query for each table oid again
-- (0.35 ms a call; 0.03 ms with the plan kept).
CREATE OR REPLACE FUNCTION _ebb.rls_print(p_rel oid) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
SET plan_cache_mode = force_generic_plan
AS $fn$
BEGIN
    RETURN (SELECT md5(concat_ws(E'\n', c.relrowsecurity::text,
        (SELECT string_agg(concat_ws(' ', quote_ident(p.polname), p.polpermissive::text,
                                     p.polroles::text, pg_get_expr(p.polqual, p.polrelid)),
                           E'\n' ORDER BY p.polname)
         FROM pg_policy p
         WHERE p.polrelid = c.oid AND c.relrowsecurity AND p.polcmd IN ('r', '*')
           AND p.polqual IS NOT NULL),
        -- (none without row level security: skipped, half the cost)
        CASE WHEN c.relrowsecurity THEN
            (SELECT string_agg(k.name || ' ' || k.type, E'\n') FROM _ebb.policy_columns(c.oid) k)
        END))
    FROM pg_class c WHERE c.oid = p_rel);
END
$fn$;

-- Creates or brings up to date _ebb_deleted.<p_tbl> and returns the columns
-- its tombstones keep. Temporary, as _ebb_install_table.
CREATE OR REPLACE FUNCTION pg_temp._ebb_install_deleted(p_tbl text) RETURNS text[]
LANGUAGE plpgsql
AS $fn$
DECLARE
    rel  oid := to_regclass(format('public.%I', p_tbl));
    dead oid;
    keep text[];
    r    record;
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS _ebb_deleted.%I (
        _ebb_pk      text COLLATE "C" PRIMARY KEY,
        _ebb_version bigint NOT NULL,
        _ebb_txid    xid8 NOT NULL DEFAULT pg_current_xact_id(),
        _ebb_origin  text)', p_tbl);
    dead := to_regclass(format('_ebb_deleted.%I', p_tbl));
    -- ebb_pull walks (txid, key) in order, as on the table itself.
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON _ebb_deleted.%I (_ebb_txid, _ebb_pk)',
                   left(p_tbl, 50) || '_ebb_pull_idx', p_tbl);
    -- The policies are copied afresh below; the columns depend on them.
    FOR r IN SELECT p.polname FROM pg_policy p WHERE p.polrelid = dead LOOP
        EXECUTE format('DROP POLICY %I ON _ebb_deleted.%I', r.polname, p_tbl);
    END LOOP;
    -- Exactly the columns the policies read now: one no policy reads any
    -- more is dropped with its values; one whose type changed starts empty
    -- (NULL in older tombstones).
    SELECT array_agg(k.name ORDER BY k.name) INTO keep FROM _ebb.policy_columns(rel) k;
    FOR r IN SELECT a.attname::text AS name FROM pg_attribute a
             WHERE a.attrelid = dead AND a.attnum > 0 AND NOT a.attisdropped
               AND left(a.attname, 5) <> '_ebb_' AND a.attname <> ALL (coalesce(keep, '{}'))
    LOOP
        EXECUTE format('ALTER TABLE _ebb_deleted.%I DROP COLUMN %I', p_tbl, r.name);
    END LOOP;
    FOR r IN SELECT * FROM _ebb.policy_columns(rel) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute d JOIN pg_attribute t
                       ON t.attrelid = rel AND t.attname = d.attname
                       WHERE d.attrelid = dead AND d.attname = r.name AND NOT d.attisdropped
                         AND d.atttypid = t.atttypid AND d.attcollation = t.attcollation) THEN
            EXECUTE format('ALTER TABLE _ebb_deleted.%I DROP COLUMN IF EXISTS %I', p_tbl, r.name);
            EXECUTE format('ALTER TABLE _ebb_deleted.%I ADD COLUMN %I %s', p_tbl, r.name, r.type);
        END IF;
    END LOOP;

    -- Up to this version, tombstones of every table lived in one table
    -- (public._ebb_tombstones) read through SECURITY DEFINER functions
    -- that ignored row level security. They move here with their txids,
    -- so no device's cursor skips or repeats one. They carry no row
    -- values: under row level security they reach only roles whose
    -- policies admit NULL in those columns (usually none but the owner).
    IF to_regclass('public._ebb_tombstones') IS NOT NULL THEN
        EXECUTE format('INSERT INTO _ebb_deleted.%I AS d (_ebb_pk, _ebb_version, _ebb_txid, _ebb_origin)
            SELECT o.pk, o.version, o.txid, o.origin FROM public._ebb_tombstones o WHERE o.tbl = $1
            ON CONFLICT (_ebb_pk) DO UPDATE
                SET _ebb_version = greatest(d._ebb_version, excluded._ebb_version),
                    _ebb_txid = excluded._ebb_txid, _ebb_origin = excluded._ebb_origin', p_tbl)
            USING p_tbl;
        EXECUTE 'DELETE FROM public._ebb_tombstones o WHERE o.tbl = $1' USING p_tbl;
    END IF;

    EXECUTE format('ALTER TABLE _ebb_deleted.%I ENABLE ROW LEVEL SECURITY', p_tbl);
    IF (SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = rel) THEN
        FOR r IN SELECT p.polname, p.polpermissive, pg_get_expr(p.polqual, p.polrelid) AS qual,
                        (SELECT string_agg(CASE WHEN o = 0 THEN 'PUBLIC'
                                                ELSE quote_ident(pg_get_userbyid(o)) END, ', ')
                         FROM unnest(p.polroles) AS o) AS roles
                 FROM pg_policy p
                 WHERE p.polrelid = rel AND p.polcmd IN ('r', '*') AND p.polqual IS NOT NULL
                 ORDER BY p.polname
        LOOP
            BEGIN
                -- Deparsed and parsed again in this session (same
                -- search_path), so every name means what it meant.
                EXECUTE format('CREATE POLICY %I ON _ebb_deleted.%I AS %s FOR SELECT TO %s USING (%s)',
                               r.polname, p_tbl,
                               CASE WHEN r.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                               r.roles, r.qual);
            EXCEPTION WHEN OTHERS THEN
                RAISE EXCEPTION 'ebb: policy % of public.% cannot decide who sees its deleted rows: %',
                    quote_ident(r.polname), quote_ident(p_tbl), SQLERRM
                    USING HINT = 'ebb copies a table''s read policies to _ebb_deleted.' || p_tbl
                        || ', which has the columns they name but not the table''s row type: '
                        || 'name columns instead of passing the whole row.';
            END;
        END LOOP;
    ELSE
        EXECUTE format('CREATE POLICY _ebb_everyone ON _ebb_deleted.%I FOR SELECT USING (true)', p_tbl);
    END IF;
    -- Whoever may not read the table may not read its deletes either. Run
    -- once per query (an InitPlan), not per row.
    EXECUTE format('CREATE POLICY _ebb_readers ON _ebb_deleted.%I AS RESTRICTIVE FOR SELECT
                    USING ((SELECT has_table_privilege(%L, ''SELECT'')))',
                   p_tbl, format('public.%I', p_tbl));
    -- Read, never written, by the roles that sync (the triggers write as
    -- the owner, who is not subject to these policies).
    EXECUTE format('REVOKE ALL ON _ebb_deleted.%I FROM PUBLIC', p_tbl);
    EXECUTE format('GRANT SELECT ON _ebb_deleted.%I TO PUBLIC', p_tbl);
    RETURN coalesce(keep, '{}');
END
$fn$;

-- After the listed tables: tables synced before but not listed now still
-- have ebb's triggers, which from this version write to _ebb_deleted, so
-- they are brought up to date too. Then what earlier versions kept of
-- deletes goes: tombstones left in public._ebb_tombstones belong to
-- tables that no longer exist.
CREATE OR REPLACE FUNCTION pg_temp._ebb_finish(p_listed text[]) RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.tbl, t.pk FROM public._ebb_tables t
             WHERE t.tbl <> ALL (p_listed) AND to_regclass(format('public.%I', t.tbl)) IS NOT NULL
             ORDER BY t.tbl
    LOOP
        PERFORM pg_temp._ebb_install_table(r.tbl, r.pk);
    END LOOP;
    DROP FUNCTION IF EXISTS public._ebb_tombstones_after(text, xid8, xid8, text, integer);
    DROP FUNCTION IF EXISTS public._ebb_tombstone_version(text, text);
    DROP TABLE IF EXISTS public._ebb_tombstones;
    -- Each table has its own stamping function now (_ebb_install_stamp).
    IF NOT EXISTS (SELECT 1 FROM pg_trigger g
                   WHERE g.tgfoid = to_regprocedure('public._ebb_before_write()')) THEN
        DROP FUNCTION IF EXISTS public._ebb_before_write();
    END IF;
    -- And its own function recording pushes (_ebb_install_after).
    IF NOT EXISTS (SELECT 1 FROM pg_trigger g
                   WHERE g.tgfoid = to_regprocedure('public._ebb_after_write()')) THEN
        DROP FUNCTION IF EXISTS public._ebb_after_write();
    END IF;
END
$fn$;
