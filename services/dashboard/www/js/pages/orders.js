// orders.js — 訂單: search orders by id, buyer, shop, state, closed and date range
// (GET /api/v1/orders), newest first, a page at a time.
import { t } from '../i18n.js';
import { listPage } from '../listpage.js';
import { h, badge, mono, money, timeCell, orderLink, yesNo } from '../dom.js';

export const ORDER_STATES = ['unpaid', 'paid', 'printed', 'shipped'];

export function render(ctx) {
  listPage(ctx, {
    title: 'page.orders',
    endpoint: '/orders',
    test: 'orders',
    filters: [
      { name: 'order_id', type: 'text', mono: true, size: 22 },
      { name: 'buyer_id', type: 'text', mono: true },
      { name: 'shop_id', type: 'text', mono: true },
      { name: 'state', type: 'select', options: ORDER_STATES, prefix: 'state.order' },
      { name: 'closed', type: 'bool', prefix: 'bool.closed' },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.order_id,
    rowClass: (r) => (r.closed ? 'row-closed' : null),
    columns: [
      { label: 'col.order_id', cell: (r) => orderLink(r.order_id) },
      { label: 'col.shop_id', cell: (r) => mono(r.shop_id) },
      { label: 'col.buyer_id', cell: (r) => mono(r.buyer_id) },
      { label: 'col.state', cell: (r) => h('span.badges', badge('state.order', r.state),
        r.closed ? h('span.badge.b-grey', t('order.closed_badge')) : null) },
      { label: 'col.total', cls: 'c-num', cell: (r) => money(r.total) },
      { label: 'col.created_at', cell: (r) => timeCell(r.created_at) },
      { label: 'col.paid_at', cell: (r) => timeCell(r.paid_at) },
      { label: 'col.printed_at', cell: (r) => timeCell(r.printed_at) },
      { label: 'col.ship_by', cell: (r) => timeCell(r.ship_by) },
      { label: 'col.refunded', cell: (r) => (r.refunded === undefined ? null : yesNo(r.refunded)) },
    ],
  });
}
