// remittances.js — 匯款 (M2-M4): remittances by state, staff, buyer and time with their aging
// since the buyer's notice ("2 天 3 小時"; past REMITTANCE_VERIFY_DAYS it is marked), and,
// for a supervisor, verify with the amount received (POST /api/v1/remittances/{id}/verify).
import { post } from '../api.js';
import { t } from '../i18n.js';
import { listPage } from '../listpage.js';
import { h, clear, badge, mono, money, text, timeCell, fmtDuration, errorMessage } from '../dom.js';
import { isSupervisor } from '../roles.js';
import { resultMessage } from './taskform.js';

const VERIFY_DAYS = 3; // SPEC M3 default; the server alerts by its own setting

export const REMIT_STATES = ['ordered', 'notified', 'verified', 'shipped'];

function verifyForm(r, ctx) {
  const amount = h('input', { type: 'text', name: 'amount', class: 'mono', size: 10, value: r.amount || '',
    inputmode: 'decimal', required: true, 'data-test': 'verify-amount' });
  const out = h('div.task-result');
  const btn = h('button.btn.btn-primary', { type: 'submit', 'data-test': 'verify' }, t('remit.verify'));
  const form = h('form.task-form', h('div.form-row',
    h('label.field', h('span.field-label', t('remit.amount_received')), amount),
    h('div.form-actions', btn)), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    btn.disabled = true;
    try {
      const { status, data } = await post(`/remittances/${encodeURIComponent(r.remit_id)}/verify`,
        { amount: amount.value.trim() });
      out.appendChild(resultMessage(status, data));
    } catch (err) {
      out.appendChild(errorMessage(err));
      btn.disabled = false;
    }
  });
  return form;
}

export function render(ctx) {
  const sup = isSupervisor(ctx.user);
  listPage(ctx, {
    title: 'page.remittances',
    endpoint: '/remittances',
    test: 'remittances',
    filters: [
      { name: 'state', type: 'select', options: REMIT_STATES, prefix: 'state.remit' },
      { name: 'staff', type: 'text' },
      { name: 'buyer_id', type: 'text', mono: true },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.remit_id,
    rowClass: (r) => (r.state === 'notified' && r.aging_s > VERIFY_DAYS * 86400 ? 'row-late' : null),
    columns: [
      { label: 'col.remit_id', cell: (r) => mono(r.remit_id) },
      { label: 'col.buyer_id', cell: (r) => mono(r.buyer_id) },
      { label: 'col.state', cell: (r) => badge('state.remit', r.state) },
      { label: 'col.staff', key: 'staff' },
      { label: 'col.amount', cls: 'c-num', cell: (r) => money(r.amount) },
      { label: 'col.method', cell: (r) => text([r.method, r.bank].filter(Boolean).join(' · ')) },
      { label: 'col.notified_at', cell: (r) => timeCell(r.notified_at) },
      { label: 'col.aging', cell: (r) => (r.aging_s === null || r.aging_s === undefined || r.verified_at ? null
        : h(r.aging_s > VERIFY_DAYS * 86400 ? 'span.aging.late' : 'span.aging', { 'data-test': 'aging' },
          fmtDuration(r.aging_s))) },
      { label: 'col.verified_at', cell: (r) => timeCell(r.verified_at) },
      { label: 'col.verified_by', key: 'verified_by' },
      { label: 'col.shipped_at', cell: (r) => timeCell(r.shipped_at) },
    ],
    expand: sup ? verifyForm : undefined,
    canExpand: (r) => r.state === 'notified',
    expandLabel: 'remit.verify',
  });
}
