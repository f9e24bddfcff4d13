-- The example app's synced tables on the server (Postgres 13+, Supabase or
-- plain). Apply once, before `ebb remote-sql`'s output:
--
--   psql "$DATABASE_URL" -f example/server.sql
--   ebb remote-sql | psql "$DATABASE_URL"
--
-- Same columns as example/app.sql: text uuid ids (minted on devices, so two
-- offline devices never collide), bigint cents, text ISO 8601 timestamps
-- (kept as the devices wrote them; ebb never orders by them). The same
-- foreign keys, including ON DELETE CASCADE, and the same CHECKs, so a row
-- valid on one side is valid on the other.
--
-- users and licenses are NOT created here: they never leave the device.

CREATE TABLE products (
    id               text PRIMARY KEY,
    sku              text NOT NULL UNIQUE,
    name             text NOT NULL,
    category         text NOT NULL,
    price_cents      bigint NOT NULL CHECK (price_cents >= 0),
    sale_price_cents bigint CHECK (sale_price_cents >= 0),
    stock            bigint NOT NULL DEFAULT 0,
    updated_at       text NOT NULL
);

CREATE TABLE customers (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    phone      text,
    email      text,
    notes      text,
    updated_at text NOT NULL
);

CREATE TABLE debts (
    id                text PRIMARY KEY,
    customer_id       text NOT NULL REFERENCES customers(id),
    amount_cents      bigint NOT NULL CHECK (amount_cents > 0),
    amount_paid_cents bigint NOT NULL DEFAULT 0 CHECK (amount_paid_cents >= 0),
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    note              text,
    updated_at        text NOT NULL
);
CREATE INDEX debts_customer_id ON debts(customer_id);

CREATE TABLE debt_payments (
    id           text PRIMARY KEY,
    debt_id      text NOT NULL REFERENCES debts(id) ON DELETE CASCADE,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    paid_at      text NOT NULL
);
CREATE INDEX debt_payments_debt_id ON debt_payments(debt_id);
