-- 0007_orders_items_key.sql — orders.items_key becomes a plain column that order-worker
-- fills when it inserts an order (items never change afterwards), instead of a generated
-- column calling items_key(items) for every row written (10-20 µs each in a COPY).
--
-- The key is compared between orders and remittances (M5), so the C computation and the
-- SQL function must agree byte for byte: the function now sorts in byte order (COLLATE
-- "C"), as the worker does, whatever the database's collation. remittances keep their
-- generated column; rows whose key would differ under the byte order are recomputed.
CREATE OR REPLACE FUNCTION items_key(items jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(k, ';' ORDER BY k COLLATE "C")
      FROM (SELECT (i->>'sku') || '×' || (i->>'qty') AS k FROM jsonb_array_elements(items) i) s
$$;

-- a generated column becomes a plain one keeping its values (and orders_open_by_buyer)
ALTER TABLE orders ALTER COLUMN items_key DROP EXPRESSION;
UPDATE orders SET items_key = items_key(items) WHERE items_key IS DISTINCT FROM items_key(items);

-- an UPDATE recomputes a generated column
UPDATE remittances SET items = items WHERE items_key IS DISTINCT FROM items_key(items);

COMMENT ON COLUMN orders.items_key IS
    'items_key(items), written by order-worker on insert (M5 matching; 0007)';
