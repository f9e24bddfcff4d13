-- The example app: a small point-of-sale on SQLite. This is the app's own
-- schema, written as the app would write it; ebb adds nothing here (it
-- installs its capture triggers and _ebb_* tables itself, see `ebb init`).
--
--   sqlite3 example/app.db < example/app.sql && sqlite3 example/app.db < example/seed.sql
--
-- Synced (listed in policies.toml): products, customers, debts, debt_payments.
-- Never synced: users, licenses (password hashes and the license key stay on
-- this device).
--
-- Primary keys of synced tables are text uuids, not INTEGER autoincrement:
-- two devices working offline would both mint id 42 for different rows, and
-- the second push would overwrite or conflict with the first. A random uuid
-- minted on the device never collides.
--
-- Money is integer cents, timestamps ISO 8601 text (UTC, "Z").

-- Per connection: the app must set it on each connection it opens.
PRAGMA foreign_keys = ON;

CREATE TABLE products (
    id               TEXT PRIMARY KEY NOT NULL,          -- uuid
    sku              TEXT NOT NULL UNIQUE,               -- e.g. BEV-0001
    name             TEXT NOT NULL,
    category         TEXT NOT NULL,
    price_cents      INTEGER NOT NULL CHECK (price_cents >= 0),
    sale_price_cents INTEGER CHECK (sale_price_cents >= 0), -- NULL: not on sale
    stock            INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL
);

CREATE TABLE customers (
    id         TEXT PRIMARY KEY NOT NULL,                -- uuid
    name       TEXT NOT NULL,
    phone      TEXT,
    email      TEXT,
    notes      TEXT,
    updated_at TEXT NOT NULL
);

-- What a customer owes the shop ("on the slate").
CREATE TABLE debts (
    id                TEXT PRIMARY KEY NOT NULL,         -- uuid
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    amount_cents      INTEGER NOT NULL CHECK (amount_cents > 0),
    amount_paid_cents INTEGER NOT NULL DEFAULT 0 CHECK (amount_paid_cents >= 0),
    status            TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    note              TEXT,
    updated_at        TEXT NOT NULL
);
CREATE INDEX debts_customer_id ON debts(customer_id);

CREATE TABLE debt_payments (
    id           TEXT PRIMARY KEY NOT NULL,              -- uuid
    debt_id      TEXT NOT NULL REFERENCES debts(id) ON DELETE CASCADE,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    paid_at      TEXT NOT NULL
);
CREATE INDEX debt_payments_debt_id ON debt_payments(debt_id);

-- Local only: never listed in policies.toml, never synced.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'cashier'
);

-- Local only: this device's license.
CREATE TABLE licenses (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,
    expires_at TEXT
);
