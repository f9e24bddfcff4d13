-- A point-of-sale app as desktop tills are commonly written, before ebb:
-- INTEGER AUTOINCREMENT keys minted by each till, REAL money, text
-- timestamps from CURRENT_TIMESTAMP ("2026-12-05 23:07:40", UTC), stock
-- decremented in place, and the app's own hand-rolled sync queue. ebb
-- syncs it as it is (`ebb init` suggests how: keys = "map" for the integer
-- keys, a delta merge for stock, sync_queue left out).
--
--   sqlite3 pos.db < example/pos/pos.sql && sqlite3 pos.db < example/pos/seed.sql
--   ebb init --db pos.db
--
-- The server side is example/pos/server.sql. users never leaves the till.

PRAGMA foreign_keys = ON;

CREATE TABLE categories (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT
);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    category_id INTEGER REFERENCES categories(id),
    name        TEXT NOT NULL,
    price       REAL NOT NULL,
    stock       INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE sales (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    total      REAL NOT NULL,
    payment    TEXT NOT NULL,                 -- 'cash' | 'card'
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE sale_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sale_id    INTEGER NOT NULL REFERENCES sales(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity   INTEGER NOT NULL,
    price      REAL NOT NULL                  -- unit price at the time of sale
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT,
    password_hash TEXT
);

-- The app's old sync: a row per change, sent by the app itself when online.
CREATE TABLE sync_queue (
    id         INTEGER PRIMARY KEY,
    table_name TEXT,
    record_id  INTEGER,
    operation  TEXT,
    status     TEXT,
    created_at TEXT
);
