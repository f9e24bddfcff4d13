-- The tables of ebb's SQL tests and of the gateway's contract suite, as a
-- user would create them before applying the install script: text, bigint
-- and uuid keys, parents before children, a cascade from debts to their
-- payments. Read by host/src/remote/sql/testdb.rs and tests/tests/gateway.rs.
CREATE TABLE products (id text PRIMARY KEY, name text NOT NULL, price_cents bigint NOT NULL DEFAULT 0,
                       stock integer NOT NULL DEFAULT 0, note text);
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, phone text);
CREATE TABLE debts (id uuid PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id),
                    amount_cents bigint NOT NULL CHECK (amount_cents >= 0));
CREATE TABLE debt_payments (id uuid PRIMARY KEY,
                            debt_id uuid NOT NULL REFERENCES debts(id) ON DELETE CASCADE,
                            amount_cents bigint NOT NULL);
