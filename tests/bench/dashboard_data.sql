-- tests/bench/dashboard_data.sql — the dashboard benchmark's data set (issue 6): 1,000,000
-- orders and 5,000,000 notes, with the tasks, breaches, alerts, dead letters, remittances,
-- refund registrations, ledger rows and recharges the other list pages read. Generated in
-- PostgreSQL (no Kafka: only the read side is measured). Scale with psql -v orders=N.
\set ON_ERROR_STOP 1
\if :{?orders}
\else
  \set orders 1000000
\endif
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';

-- orders over the last 90 days, 50 shops, 100,000 buyers, every state
INSERT INTO orders (order_id, shop_id, buyer_id, state, total, postage, auction, items,
                    created_at, paid_at, paid_amount, pay_method, printed_at, closed,
                    ship_by, refund_from, address)
SELECT 'bo-' || g, 'shop' || (g % 50), 'buyer' || (g % 100000),
       (ARRAY['unpaid', 'paid', 'printed', 'shipped'])[1 + g % 4],
       (100 + g % 900)::numeric(14,2), 10, g % 7 = 0,
       jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', 1 + g % 3,
                                            'price', (90 + g % 900)::text)),
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second',
       CASE WHEN g % 4 > 0 THEN now() - ((g::bigint * 7919) % 7776000) * interval '1 second' + interval '5 min' END,
       CASE WHEN g % 4 > 0 THEN (100 + g % 900)::numeric(14,2) END,
       CASE WHEN g % 4 > 0 THEN 'card' END,
       CASE WHEN g % 4 > 1 THEN now() - ((g::bigint * 7919) % 7776000) * interval '1 second' + interval '2 h' END,
       g % 10 = 0,
       CASE WHEN g % 4 > 0 THEN (now() - ((g::bigint * 7919) % 7776000) * interval '1 second')::date + 1 END,
       CASE WHEN g % 4 > 0 THEN now() - ((g::bigint * 7919) % 7776000) * interval '1 second' + interval '24 h' END,
       '台北市信義區市府路' || (g % 300) || '號'
  FROM generate_series(1, :orders) g;

-- five notes per order
INSERT INTO order_notes (order_id, seq, code, template, params, author, noted_at, rendered,
                         rendered_hans, rendered_en, event_source, event_id)
SELECT 'bo-' || g, s, (ARRAY['A1', 'A5', 'A13', 'A16', 'F3'])[s], 'bench',
       jsonb_build_object('staff', '小王'), (ARRAY['小王', '阿美', '王主管'])[1 + (g + s) % 3],
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second' + s * interval '1 min',
       '小王 ' || to_char(now(), 'MM/DD') || ' 買家要求取消訂單，已通知助理取消運單（第' || s || '則）',
       '小王 ' || to_char(now(), 'MM/DD') || ' 买家要求取消订单，已通知助理取消运单（第' || s || '则）',
       '小王 ' || to_char(now(), 'MM/DD') || ' buyer asked to cancel; assistant told (note ' || s || ')',
       'shop/shop' || (g % 50), 'bench-' || g || '-' || s
  FROM generate_series(1, :orders) g, generate_series(1, 5) s;

-- 200,000 tasks, a quarter open, over the people and role queues
INSERT INTO tasks (order_id, kind, assignee, status, created_at, closed_at, closed_by,
                   created_by_source, created_by_id)
SELECT 'bo-' || (g * 5), (ARRAY['cancel_waybill', 'fix_waybill', 'relist', 'register_refund'])[1 + g % 4],
       (ARRAY['阿美', '小張', 'registrar', '小王'])[1 + g % 4],
       CASE WHEN g % 4 = 0 THEN 'open' ELSE 'done' END,
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second',
       CASE WHEN g % 4 <> 0 THEN now() END, CASE WHEN g % 4 <> 0 THEN '阿美' END,
       'shop/bench', 'bench-task-' || g
  FROM generate_series(1, :orders / 5) g;

INSERT INTO breaches (rule, subject_id, actor, deadline, observed_at)
SELECT (ARRAY['T1', 'M3', 'R1', 'R3'])[1 + g % 4], 'bench-' || g, '小王',
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second' - interval '1 h',
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second'
  FROM generate_series(1, :orders / 20) g;

INSERT INTO alerts (kind, rule, subject_id, reason, at, payload, published_at, sent_at)
SELECT 'breach', (ARRAY['T1', 'M3', 'R1', 'R3'])[1 + g % 4], 'bench-' || g, 'deadline passed',
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second', jsonb_build_object('subject_id', 'bench-' || g),
       now(), now()
  FROM generate_series(1, :orders / 20) g;

INSERT INTO dead_letters (topic, partition, "offset", reason, received_at, payload,
                          payload_text, event_type, event_source, event_id)
SELECT 'shop.orders', g % 6, g, 'data.order_id: is required',
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second', convert_to('{"bench":' || g || '}', 'UTF8'),
       '{"bench":' || g || '}', 'order.paid', 'shop/shop' || (g % 50), 'bench-dl-' || g
  FROM generate_series(1, :orders / 10) g;

INSERT INTO remittances (remit_id, buyer_id, placed_on_shop, items, address, staff, state,
                         ordered_at, day, notified_at, amount)
SELECT 'br-' || g, 'buyer' || (g % 100000), g % 2 = 0,
       jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', 1)),
       '高雄市前鎮區', '小王', (ARRAY['ordered', 'notified', 'verified', 'shipped'])[1 + g % 4],
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second',
       (now() - ((g::bigint * 7919) % 7776000) * interval '1 second')::date,
       CASE WHEN g % 4 > 0 THEN now() - ((g::bigint * 7919) % 7776000) * interval '1 second' + interval '1 h' END,
       CASE WHEN g % 4 > 0 THEN (200 + g % 800)::numeric(14,2) END
  FROM generate_series(1, :orders / 10) g;

INSERT INTO refund_registrations (order_id, buyer_id, channel, account, real_name, amount,
                                  reason, staff, registered_at)
SELECT 'bo-' || (g * 10), 'buyer' || (g % 100000), 'bank', '0123456789' || g, '陳大文', 50,
       '缺貨退款', '小王', now() - ((g::bigint * 7919) % 7776000) * interval '1 second'
  FROM generate_series(1, :orders / 10) g;

INSERT INTO balance_ledger (buyer_id, delta, balance_after, order_id, at, kind, staff)
SELECT 'buyer' || (g % 100000), 20, 20 * (1 + g / 100000), 'bo-' || g,
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second', 'registered', '小王'
  FROM generate_series(1, :orders / 5) g;

INSERT INTO recharges (order_id, shop_id, account, product, face_value, amount, requested_at,
                       state, result, result_at, handled_at, handled_by, last_processor)
SELECT 'bq-' || g, 'shop1', '1380013' || lpad(g::text, 4, '0'), 'mobile', 100, 98,
       now() - ((g::bigint * 7919) % 7776000) * interval '1 second',
       (ARRAY['succeeded', 'failed', 'suspended', 'queued'])[1 + g % 4],
       CASE WHEN g % 4 < 2 THEN (ARRAY['success', 'failed'])[1 + g % 2] END,
       CASE WHEN g % 4 < 2 THEN now() END, CASE WHEN g % 4 < 2 THEN now() END,
       CASE WHEN g % 4 < 2 THEN 'desk-1' END, 'desk-1'
  FROM generate_series(1, 10000) g;

INSERT INTO audit_log (at, actor, role, action, target, outcome)
SELECT now() - ((g::bigint * 7919) % 7776000) * interval '1 second', '小王', 'staff', 'task.complete',
       'bo-' || g, 'ok'
  FROM generate_series(1, :orders / 10) g;

VACUUM ANALYZE;
CHECKPOINT; -- measured afterwards: the load's dirty pages are not flushed during the benchmark
