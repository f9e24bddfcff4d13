-- Sample data for the demo (SQLite; run after app.sql on a fresh file):
--
--   sqlite3 example/app.db < example/seed.sql
--
-- 210 products, 80 customers, 120 debts and their payments, generated with
-- recursive CTEs. Ids are fixed uuids (table number, then the row number) so
-- the demo replays the same way; the app itself mints random v4 uuids. Seed
-- ONE device and let the others pull: two devices seeded independently would
-- hold the same ids as separate inserts.
--
-- Rows obey the products validator plugin: sku starts with the first three
-- letters of the category, uppercased; a sale price is never above the price;
-- only "services" may have no stock.

PRAGMA foreign_keys = ON;

BEGIN;

INSERT INTO products (id, sku, name, category, price_cents, sale_price_cents, stock, updated_at)
WITH RECURSIVE
    n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 210),
    p(i, category, price) AS (
        SELECT i,
               CASE i % 7
                   WHEN 0 THEN 'beverages' WHEN 1 THEN 'snacks'   WHEN 2 THEN 'dairy'
                   WHEN 3 THEN 'bakery'    WHEN 4 THEN 'produce'  WHEN 5 THEN 'household'
                   ELSE 'services' END,
               100 + (i * 37) % 4900
        FROM n)
SELECT printf('00000001-0000-4000-8000-%012d', i),
       upper(substr(category, 1, 3)) || '-' || printf('%04d', i),
       upper(substr(category, 1, 1)) || substr(category, 2) || ' item ' || i,
       category,
       price,
       CASE WHEN i % 5 = 0 THEN price - price / 10 END,
       CASE WHEN category = 'services' THEN 0 ELSE (i * 13) % 120 END,
       strftime('%Y-%m-%dT%H:%M:%SZ', '2025-01-01', '+' || i || ' minutes')
FROM p;

INSERT INTO customers (id, name, phone, email, notes, updated_at)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80)
SELECT printf('00000002-0000-4000-8000-%012d', i),
       'Customer ' || i,
       CASE WHEN i % 3 <> 0 THEN printf('+1-555-%04d', i) END,
       CASE WHEN i % 2 = 0 THEN 'customer' || i || '@example.com' END,
       CASE WHEN i % 10 = 0 THEN 'pays on Fridays' END,
       strftime('%Y-%m-%dT%H:%M:%SZ', '2025-01-02', '+' || i || ' minutes')
FROM n;

-- Debt i has p payments of a quarter of its amount each; every 7th is paid
-- in full (4 payments), so amount_paid_cents and status agree with the
-- payments below.
INSERT INTO debts (id, customer_id, amount_cents, amount_paid_cents, status, note, updated_at)
WITH RECURSIVE
    n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120),
    d(i, amount, payments) AS (
        SELECT i, 400 * (1 + i % 25), CASE WHEN i % 7 = 0 THEN 4 ELSE i % 3 END FROM n)
SELECT printf('00000003-0000-4000-8000-%012d', i),
       printf('00000002-0000-4000-8000-%012d', 1 + i % 80),
       amount,
       payments * (amount / 4),
       CASE WHEN payments = 4 THEN 'paid' ELSE 'open' END,
       CASE WHEN i % 4 = 0 THEN 'groceries on credit' END,
       strftime('%Y-%m-%dT%H:%M:%SZ', '2025-01-03', '+' || i || ' minutes')
FROM d;

INSERT INTO debt_payments (id, debt_id, amount_cents, paid_at)
WITH RECURSIVE
    n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120),
    d(i, amount, payments) AS (
        SELECT i, 400 * (1 + i % 25), CASE WHEN i % 7 = 0 THEN 4 ELSE i % 3 END FROM n),
    k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < 4)
SELECT printf('00000004-0000-4000-8000-%08d%04d', i, j),
       printf('00000003-0000-4000-8000-%012d', i),
       amount / 4,
       strftime('%Y-%m-%dT%H:%M:%SZ', '2025-01-04', '+' || i || ' hours', '+' || j || ' days')
FROM d JOIN k ON k.j <= d.payments;

-- Local only (never synced).
INSERT INTO users (id, username, password_hash, role)
VALUES (1, 'admin', 'demo-placeholder-not-a-real-hash', 'owner');

INSERT INTO licenses (id, key, expires_at)
VALUES (1, 'DEMO-0000-0000-0000', '2030-12-31T23:59:59Z');

COMMIT;
