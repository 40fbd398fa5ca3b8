// remitdays.js — 匯款日報 (M7, M8): the daily remittance record, one line per day with its
// count, amount and reviewer; the days no supervisor has reviewed listed on top; each day's
// rows, its CSV (the same file as `orderflow-admin remittance-csv`) and, for a supervisor,
// the review button (POST /api/v1/remittance-days/{day}/review).
import { get, post } from '../api.js';
import { t } from '../i18n.js';
import { listPage } from '../listpage.js';
import { h, clear, badge, mono, money, text, timeCell, yesNo, message, errorMessage } from '../dom.js';
import { isSupervisor } from '../roles.js';
import { resultMessage } from './taskform.js';

const csvHref = (day) => `/api/v1/remittance-days/${encodeURIComponent(day)}/csv`;
const dayOf = (r) => String(r.day || '').slice(0, 10);
const countOf = (r) => r.remittances ?? r.count ?? r.rows ?? null;
const amountOf = (r) => r.amount ?? r.total_amount ?? r.amount_total ?? null;

function csvLink(day) {
  return h('a.btn.btn-small', { href: csvHref(day), download: `remittance-${day}.csv`, 'data-test': 'csv' },
    t('remit.csv'));
}

function reviewButton(day, out, after) {
  const btn = h('button.btn.btn-small.btn-primary', { type: 'button', 'data-test': 'review', onclick: async () => {
    btn.disabled = true;
    clear(out);
    try {
      const { status, data } = await post(`/remittance-days/${encodeURIComponent(day)}/review`, {});
      out.appendChild(resultMessage(status, data));
      if (after) after();
    } catch (err) {
      out.appendChild(errorMessage(err));
      btn.disabled = false;
    }
  } }, t('remit.review'));
  return btn;
}

function unreviewedBox(ctx) {
  const box = h('section.card.unreviewed', { 'data-test': 'unreviewed' }, h('h2', t('remit.unreviewed')),
    h('p.muted', t('common.loading')));
  get('/remittance-days', { reviewed: 'false', limit: 200 }).then(({ data }) => {
    const days = (data.items || data || []).map(dayOf).filter(Boolean);
    clear(box).appendChild(h('h2', t('remit.unreviewed'), h('span.count', String(days.length))));
    box.appendChild(days.length
      ? h('div.chips', days.map((d) => h('a.chip.chip-warn', { href: `#/remittance-days/${d}` }, d)))
      : h('p.muted', t('remit.all_reviewed')));
  }).catch((err) => clear(box).append(h('h2', t('remit.unreviewed')), errorMessage(err)));
  return box;
}

export function renderDays(ctx) {
  const sup = isSupervisor(ctx.user);
  const out = h('div.msgs');
  let page = null;
  page = listPage(ctx, {
    title: 'page.remittance_days',
    endpoint: '/remittance-days',
    test: 'remittance-days',
    before: (c) => h('div', unreviewedBox(c), out),
    filters: [{ name: 'reviewed', type: 'bool', prefix: 'bool.reviewed' }],
    rowKey: (r) => dayOf(r),
    rowClass: (r) => (r.reviewed_by ? null : 'row-warn'),
    columns: [
      { label: 'col.day', cell: (r) => h('a.mono.link', { href: `#/remittance-days/${dayOf(r)}` }, dayOf(r)) },
      { label: 'col.count', cls: 'c-num', cell: (r) => text(countOf(r)) },
      { label: 'col.amount', cls: 'c-num', cell: (r) => money(amountOf(r)) },
      { label: 'col.reviewed_by', cell: (r) => (r.reviewed_by ? text(r.reviewed_by)
        : h('span.badge.b-amber', t('remit.not_reviewed'))) },
      { label: 'col.reviewed_at', cell: (r) => timeCell(r.reviewed_at) },
      { label: 'common.actions', cell: (r) => h('span.cell-actions', csvLink(dayOf(r)),
        sup && !r.reviewed_by ? reviewButton(dayOf(r), out, () => page && page.reload()) : null) },
    ],
  });
}

export async function renderDay(ctx) {
  const day = ctx.params.day;
  const sup = isSupervisor(ctx.user);
  const root = clear(ctx.el);
  const out = h('div.msgs');
  const body = h('div');
  const actions = h('div.head-actions', csvLink(day));
  root.append(h('div.page-head', h('a.back', { href: '#/remittance-days' }, '‹ ', t('page.remittance_days')),
    h('h1', t('remit.day_title'), ' ', h('span.mono', day)), actions), out, body);
  async function load() {
    let rows;
    try {
      const { data } = await get(`/remittance-days/${encodeURIComponent(day)}`);
      rows = Array.isArray(data) ? data : (data.items || data.rows || []);
    } catch (err) {
      clear(body).appendChild(errorMessage(err));
      return;
    }
    const reviewedBy = rows.find((r) => r.reviewed_by)?.reviewed_by;
    const rb = actions.querySelector('[data-test=review]');
    if (rb) rb.remove();
    if (sup && !reviewedBy && rows.length) actions.appendChild(reviewButton(day, out, load));
    clear(body).append(
      reviewedBy ? message('ok', t('remit.reviewed_by', { name: reviewedBy }))
        : message('warn', t('remit.not_reviewed')),
      h('div.table-wrap', h('table.grid', { 'data-test': 'remittance-day' },
        h('thead', h('tr', ['col.remit_id', 'col.buyer_id', 'col.amount', 'col.state', 'col.staff',
          'col.placed_on_shop', 'col.items', 'col.address', 'col.notified_at', 'col.verified_at', 'col.shipped_at',
          'col.waybill_no'].map((k) => h('th', t(k))))),
        h('tbody', rows.length ? rows.map((r) => h('tr', h('td', mono(r.remit_id)), h('td', mono(r.buyer_id)),
          h('td.c-num', money(r.amount)), h('td', badge('state.remit', r.state)), h('td', text(r.staff)),
          h('td', yesNo(r.placed_on_shop)),
          h('td', text(Array.isArray(r.items) ? r.items.map((i) => `${i.sku}×${i.qty ?? 1}`).join(', ') : '')),
          h('td.reason', text(r.address)), h('td', timeCell(r.notified_at)), h('td', timeCell(r.verified_at)),
          h('td', timeCell(r.shipped_at)), h('td', mono(r.waybill_no))))
          : h('tr.empty', h('td', { colspan: 12 }, t('list.empty'))))))); 
  }
  await load();
}
