-- A few rows for example/pos/pos.sql, as the app writes them: ids from
-- AUTOINCREMENT, created_at from CURRENT_TIMESTAMP (fixed here so runs
-- repeat), stock taken down by each sale, and the old sync queue's rows.

PRAGMA foreign_keys = ON;

BEGIN;

INSERT INTO categories (name) VALUES ('Drinks'), ('Snacks'), ('Bakery');

INSERT INTO products (category_id, name, price, stock, created_at) VALUES
    (1, 'Espresso',        2.2,  0,  '2026-12-01 08:00:00'),
    (1, 'Orange juice',    3.5,  24, '2026-12-01 08:00:00'),
    (2, 'Crisps',          1.1,  40, '2026-12-01 08:00:05'),
    (3, 'Croissant',       1.45, 12, '2026-12-01 08:00:05'),
    (3, 'Sourdough loaf',  4.8,  6,  '2026-12-02 07:30:12');

INSERT INTO sales (total, payment, created_at) VALUES
    (5.7,                'cash', '2026-12-05 09:12:40'),
    (3.3000000000000003, 'card', '2026-12-05 23:07:40');

INSERT INTO sale_items (sale_id, product_id, quantity, price) VALUES
    (1, 2, 1, 3.5),
    (1, 1, 1, 2.2),
    (2, 3, 3, 1.1);
UPDATE products SET stock = stock - 1 WHERE id = 2;
UPDATE products SET stock = stock - 3 WHERE id = 3;

INSERT INTO settings (key, value) VALUES
    ('shop_name', 'Corner Shop'),
    ('currency', 'EUR'),
    ('receipt_footer', 'Thank you!');

INSERT INTO users (id, username, password_hash) VALUES
    (1, 'owner', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA');

INSERT INTO sync_queue (table_name, record_id, operation, status, created_at) VALUES
    ('sales', 1, 'insert', 'synced',  '2026-12-05 09:12:41'),
    ('sales', 2, 'insert', 'pending', '2026-12-05 23:07:41');

COMMIT;
