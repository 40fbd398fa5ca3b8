// order.js — one order (GET /api/v1/orders/{id}): its facts (state, total, paid/printed
// times, 發貨期限 ship_by, 可退款時間 refund_from, closed), items, the note timeline in the
// chosen language with author and time, its tasks with their action forms, and its refund
// registrations and balance ledger entries.
import { get } from '../api.js';
import { t, tv, noteText } from '../i18n.js';
import { h, clear, badge, mono, money, text, timeCell, yesNo, detailCell, errorMessage } from '../dom.js';
import { taskForm } from './taskform.js';

function facts(o) {
  const row = (key, value) => [h('dt', t(key)), h('dd', value === null || value === undefined || value === ''
    ? h('span.muted', '—') : value)];
  return h('dl.facts', { 'data-test': 'order-facts' },
    row('col.shop_id', mono(o.shop_id)),
    row('col.buyer_id', mono(o.buyer_id)),
    row('col.state', badge('state.order', o.state)),
    row('col.total', money(o.total)),
    row('col.postage', o.postage === undefined ? null : money(o.postage)),
    row('col.paid_amount', o.paid_amount === undefined ? null : money(o.paid_amount)),
    row('col.pay_method', o.pay_method ? tv('pay', o.pay_method) : null),
    row('col.created_at', timeCell(o.created_at, true)),
    row('col.paid_at', timeCell(o.paid_at, true)),
    row('col.printed_at', timeCell(o.printed_at, true)),
    row('col.ship_by', h('span', { 'data-test': 'ship-by' }, timeCell(o.ship_by, true))),
    row('col.refund_from', h('span', { 'data-test': 'refund-from' }, timeCell(o.refund_from, true))),
    row('col.shipped_at', timeCell(o.shipped_at, true)),
    row('col.waybill_no', o.waybill_no ? h('span', mono(o.waybill_no), o.carrier ? ` · ${o.carrier}` : '') : null),
    row('col.closed', h('span', { 'data-test': 'closed' }, yesNo(o.closed),
      o.closed_at ? h('span.muted', ' ', timeCell(o.closed_at, true)) : null,
      o.close_reason ? h('span.muted', ' · ', o.close_reason) : null)),
    row('col.refunded', o.refunded === undefined ? null : yesNo(o.refunded)),
    row('col.auction', o.auction === undefined ? null : yesNo(o.auction)),
    row('col.address', o.address ? text(o.address) : null),
    row('col.struck_skus', Array.isArray(o.struck_skus) && o.struck_skus.length
      ? h('span', o.struck_skus.map((s) => h('span.badge.b-red', s))) : null));
}

function itemsTable(items) {
  if (!Array.isArray(items) || !items.length) return h('p.muted', t('list.empty'));
  return h('table.grid.grid-compact', { 'data-test': 'order-items' },
    h('thead', h('tr', ['col.sku', 'col.size', 'col.qty', 'col.unit_price'].map((k) => h('th', t(k))))),
    h('tbody', items.map((it) => h('tr',
      h('td', mono(it.sku)), h('td', text(it.size)), h('td.c-num', text(it.qty)), h('td.c-num', money(it.unit_price))))));
}

function timeline(notes) {
  if (!notes.length) return h('p.muted', { 'data-test': 'no-notes' }, t('order.no_notes'));
  return h('ol.timeline', { 'data-test': 'notes' }, notes.map((n) => h('li.note', {
    dataset: { seq: String(n.seq), code: n.code || '' }, 'data-test': 'note' },
  h('div.note-head',
    h('span.badge.b-grey.mono', n.code || ''),
    h('span.note-author', { 'data-test': 'note-author' }, n.author || ''),
    timeCell(n.noted_at)),
  h('div.note-text', { 'data-test': 'note-text' }, noteText(n)))));
}

function tasksTable(tasks, panel, reload) {
  if (!tasks.length) return h('p.muted', t('order.no_tasks'));
  return h('table.grid.grid-compact', { 'data-test': 'order-tasks' },
    h('thead', h('tr', ['col.task_id', 'col.kind', 'col.assignee', 'col.status', 'col.created_at',
      'col.closed_by', 'col.detail', 'common.actions'].map((k) => h('th', t(k))))),
    h('tbody', tasks.map((tk) => h('tr', { dataset: { key: String(tk.task_id) } },
      h('td', mono(tk.task_id)), h('td', badge('kind.task', tk.kind)), h('td', text(tk.assignee)),
      h('td', badge('state.task', tk.status)), h('td', timeCell(tk.created_at)), h('td', text(tk.closed_by)),
      h('td', detailCell(tk.detail)),
      h('td.c-act', tk.status === 'open' ? h('button.btn.btn-small', { type: 'button', 'data-test': 'expand',
        onclick: () => {
          clear(panel).appendChild(taskForm({ ...tk, order_id: tk.order_id }, { onDone: () => reload() }));
          panel.scrollIntoView({ block: 'nearest' });
        } }, t('common.handle')) : null)))));
}

function rechargeCard(rc) {
  if (!rc) return null;
  const row = (key, value) => [h('dt', t(key)), h('dd', value === null || value === undefined || value === ''
    ? h('span.muted', '—') : value)];
  return h('section.card', { 'data-test': 'order-recharge' }, h('h2', t('order.recharge')),
    h('dl.facts', row('col.state', badge('state.recharge', rc.state)), row('col.locked_by', text(rc.locked_by)),
      row('col.attempts', text(rc.attempts)), row('col.result', badge('outcome.recharge', rc.result)),
      row('col.result_at', timeCell(rc.result_at)), row('col.handled_at', timeCell(rc.handled_at))));
}

function moneyTables(refunds, ledger) {
  const out = [];
  if (refunds && refunds.length) {
    out.push(h('section.card', h('h2', t('order.refunds')),
      h('table.grid.grid-compact', h('thead', h('tr', ['col.channel', 'col.account', 'col.real_name', 'col.amount',
        'col.reason', 'col.staff', 'col.registered_at'].map((k) => h('th', t(k))))),
      h('tbody', refunds.map((r) => h('tr', h('td', tv('channel', r.channel)),
        h('td', mono(r.account ?? r.account_masked)), h('td', text(r.real_name ?? r.real_name_masked)),
        h('td.c-num', money(r.amount)), h('td', text(r.reason)), h('td', text(r.staff)),
        h('td', timeCell(r.registered_at))))))));
  }
  if (ledger && ledger.length) {
    out.push(h('section.card', h('h2', t('order.ledger')),
      h('table.grid.grid-compact', h('thead', h('tr', ['col.buyer_id', 'col.kind', 'col.delta', 'col.balance_after',
        'col.staff', 'col.reason', 'col.at'].map((k) => h('th', t(k))))),
      h('tbody', ledger.map((r) => h('tr', h('td', mono(r.buyer_id)), h('td', tv('ledger', r.kind)),
        h('td.c-num', money(r.delta)), h('td.c-num', money(r.balance_after)), h('td', text(r.staff)),
        h('td', text(r.reason)), h('td', timeCell(r.at))))))));
  }
  return out;
}

export async function render(ctx) {
  const id = ctx.params.id;
  const root = clear(ctx.el);
  const head = h('div.page-head', h('a.back', { href: '#/orders' }, '‹ ', t('page.orders')),
    h('h1', t('order.title'), ' ', h('span.mono', { 'data-test': 'order-id' }, id)));
  const body = h('div.order-body');
  const panel = h('div.action-panel', { 'data-test': 'action-panel' });
  root.append(head, body);

  async function reload() {
    let data;
    try {
      ({ data } = await get(`/orders/${encodeURIComponent(id)}`));
    } catch (err) {
      clear(body).appendChild(errorMessage(err));
      return;
    }
    const o = data.order || {};
    const notes = data.notes || [];
    const tasks = data.tasks || [];
    const badges = head.querySelector('.head-badges') || head.appendChild(h('span.head-badges'));
    clear(badges).appendChild(h('span.badges', badge('state.order', o.state),
      o.closed ? h('span.badge.b-grey', t('order.closed_badge')) : null));
    clear(body).append(
      h('div.order-grid',
        h('div.order-left',
          h('section.card', h('h2', t('order.facts')), facts(o)),
          h('section.card', h('h2', t('order.items')), itemsTable(o.items)),
          rechargeCard(data.recharge)),
        h('div.order-right',
          h('section.card', h('h2', t('order.notes'), h('span.count', String(notes.length))), timeline(notes)),
          h('section.card', h('h2', t('order.tasks'), h('span.count', String(tasks.length))), panel,
            tasksTable(tasks, panel, reload)),
          moneyTables(data.refunds, data.ledger))));
  }
  await reload();
}
