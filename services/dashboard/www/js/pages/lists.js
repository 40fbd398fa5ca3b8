// lists.js — the read-only list pages: 直充單 recharges, 直充日報 daily recharge record (R6),
// 違規 breaches (T3), 告警 alerts, 退款登記 refund registrations (F3; account and real name
// masked by the server unless the user is a supervisor), 餘額帳 balance ledger, 操作記錄
// audit log. Each is a listPage: filters, keyset pages.
import { tv } from '../i18n.js';
import { listPage } from '../listpage.js';
import { h, badge, mono, money, text, timeCell, orderLink, detailCell, parseTime, fmtDuration } from '../dom.js';

const RECHARGE_STATES = ['queued', 'locked', 'succeeded', 'failed', 'suspended'];
const RULES = ['R1', 'R2', 'R3', 'R4', 'R5', 'M3', 'T1', 'T2', 'T3'];

export function recharges(ctx) {
  listPage(ctx, {
    title: 'page.recharges',
    endpoint: '/recharges',
    test: 'recharges',
    live: 'desk',
    filters: [
      { name: 'state', type: 'select', options: RECHARGE_STATES, prefix: 'state.recharge' },
      { name: 'order_id', type: 'text', mono: true, size: 20 },
      { name: 'processor', type: 'text' },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.order_id,
    columns: [
      { label: 'col.order_id', cell: (r) => mono(r.order_id) },
      { label: 'col.state', cell: (r) => badge('state.recharge', r.state) },
      { label: 'col.product', key: 'product' },
      { label: 'col.face_value', cls: 'c-num', cell: (r) => money(r.face_value) },
      { label: 'col.amount', cls: 'c-num', cell: (r) => money(r.amount) },
      { label: 'col.account', cell: (r) => mono(r.account || r.account_masked) },
      { label: 'col.locked_by', key: 'locked_by' },
      { label: 'col.attempts', cls: 'c-num', key: 'attempts' },
      { label: 'col.result', cell: (r) => badge('outcome.recharge', r.result) },
      { label: 'col.requested_at', cell: (r) => timeCell(r.requested_at) },
      { label: 'col.handled_at', cell: (r) => timeCell(r.handled_at) },
      { label: 'col.handled_by', key: 'handled_by' },
      { label: 'col.provider_ref', cell: (r) => mono(r.provider_ref) },
    ],
  });
}

export function rechargeDaily(ctx) {
  listPage(ctx, {
    title: 'page.recharge_daily',
    endpoint: '/recharge-daily',
    test: 'recharge-daily',
    filters: [
      { name: 'day', type: 'date' },
      { name: 'processor', type: 'text' },
    ],
    rowKey: (r) => `${r.day}|${r.processor}`,
    rowClass: (r) => (Number(r.breaches) > 0 ? 'row-warn' : null),
    columns: [
      { label: 'col.day', cell: (r) => mono(String(r.day || '').slice(0, 10)) },
      { label: 'col.processor', key: 'processor' },
      { label: 'col.locked', cls: 'c-num', key: 'locked' },
      { label: 'col.succeeded', cls: 'c-num', key: 'succeeded' },
      { label: 'col.failed', cls: 'c-num', key: 'failed' },
      { label: 'col.suspended', cls: 'c-num', key: 'suspended' },
      { label: 'col.amount', cls: 'c-num', cell: (r) => money(r.amount) },
      { label: 'col.breaches', cls: 'c-num', cell: (r) => (Number(r.breaches) > 0
        ? h('span.badge.b-red', String(r.breaches)) : text(r.breaches)) },
    ],
  });
}

export function breaches(ctx) {
  listPage(ctx, {
    title: 'page.breaches',
    endpoint: '/breaches',
    test: 'breaches',
    live: 'breaches',
    filters: [
      { name: 'rule', type: 'select', options: RULES, prefix: 'rule' },
      { name: 'actor', type: 'text' },
      { name: 'subject_id', type: 'text', mono: true, size: 20 },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.breach_id,
    columns: [
      { label: 'col.breach_id', cell: (r) => mono(r.breach_id) },
      { label: 'col.rule', cell: (r) => h('span.badge.b-red', { title: tv('rule', r.rule) }, r.rule) },
      { label: 'col.rule_name', cell: (r) => text(tv('rule', r.rule)) },
      { label: 'col.subject_id', cell: (r) => mono(r.subject_id) },
      { label: 'col.actor', key: 'actor' },
      { label: 'col.deadline', cell: (r) => timeCell(r.deadline) },
      { label: 'col.observed_at', cell: (r) => timeCell(r.observed_at) },
      { label: 'col.late_by', cell: (r) => {
        const late = (parseTime(r.observed_at) - parseTime(r.deadline)) / 1000;
        return Number.isNaN(late) || late < 0 ? null : fmtDuration(late);
      } },
      { label: 'col.detail', cell: (r) => detailCell(r.detail) },
    ],
  });
}

export function alerts(ctx) {
  listPage(ctx, {
    title: 'page.alerts',
    endpoint: '/alerts',
    test: 'alerts',
    live: 'alerts',
    filters: [
      { name: 'kind', type: 'text' },
      { name: 'rule', type: 'select', options: RULES, prefix: 'rule' },
      { name: 'subject_id', type: 'text', mono: true, size: 20 },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.alert_id,
    rowClass: (r) => (r.last_error && !r.sent_at ? 'row-warn' : null),
    columns: [
      { label: 'col.alert_id', cell: (r) => mono(r.alert_id) },
      { label: 'col.kind', cell: (r) => h('span.badge.b-amber', tv('alert', r.kind)) },
      { label: 'col.rule', cell: (r) => (r.rule ? h('span.badge.b-red', { title: tv('rule', r.rule) }, r.rule) : null) },
      { label: 'col.subject_id', cell: (r) => mono(r.subject_id) },
      { label: 'col.reason', cls: 'reason', cell: (r) => text(r.reason) },
      { label: 'col.at', cell: (r) => timeCell(r.at) },
      { label: 'col.sent_at', cell: (r) => timeCell(r.sent_at) },
      { label: 'col.published_at', cell: (r) => timeCell(r.published_at) },
      { label: 'col.attempts', cls: 'c-num', key: 'attempts' },
      { label: 'col.last_error', cls: 'reason', cell: (r) => text(r.last_error) },
    ],
  });
}

export function refunds(ctx) {
  listPage(ctx, {
    title: 'page.refunds',
    endpoint: '/refund-registrations',
    test: 'refunds',
    filters: [
      { name: 'order_id', type: 'text', mono: true, size: 20 },
      { name: 'buyer_id', type: 'text', mono: true },
      { name: 'staff', type: 'text' },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.reg_id,
    columns: [
      { label: 'col.reg_id', cell: (r) => mono(r.reg_id) },
      { label: 'col.order_id', cell: (r) => orderLink(r.order_id) },
      { label: 'col.buyer_id', cell: (r) => mono(r.buyer_id) },
      { label: 'col.channel', cell: (r) => text(tv('channel', r.channel)) },
      { label: 'col.account', cell: (r) => mono(r.account ?? r.account_masked) },
      { label: 'col.real_name', cell: (r) => text(r.real_name ?? r.real_name_masked) },
      { label: 'col.amount', cls: 'c-num', cell: (r) => money(r.amount) },
      { label: 'col.reason', cls: 'reason', cell: (r) => text(r.reason) },
      { label: 'col.staff', key: 'staff' },
      { label: 'col.registered_at', cell: (r) => timeCell(r.registered_at) },
      { label: 'col.reply', key: 'reply' },
    ],
  });
}

export function ledger(ctx) {
  listPage(ctx, {
    title: 'page.ledger',
    endpoint: '/balance-ledger',
    test: 'ledger',
    filters: [
      { name: 'buyer_id', type: 'text', mono: true },
      { name: 'order_id', type: 'text', mono: true, size: 20 },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.entry_id,
    columns: [
      { label: 'col.entry_id', cell: (r) => mono(r.entry_id) },
      { label: 'col.buyer_id', cell: (r) => mono(r.buyer_id) },
      { label: 'col.kind', cell: (r) => text(tv('ledger', r.kind)) },
      { label: 'col.delta', cls: 'c-num', cell: (r) => h(String(r.delta || '').startsWith('-') ? 'span.num.neg' : 'span.num.pos',
        String(r.delta ?? '')) },
      { label: 'col.balance_after', cls: 'c-num', cell: (r) => money(r.balance_after) },
      { label: 'col.order_id', cell: (r) => orderLink(r.order_id) },
      { label: 'col.staff', key: 'staff' },
      { label: 'col.reason', cls: 'reason', cell: (r) => text(r.reason) },
      { label: 'col.at', cell: (r) => timeCell(r.at) },
    ],
  });
}

export function audit(ctx) {
  listPage(ctx, {
    title: 'page.audit',
    endpoint: '/audit',
    test: 'audit',
    filters: [
      { name: 'actor', type: 'text' },
      { name: 'action', type: 'text', mono: true, placeholder: 'f.action_ph' },
      { name: 'target', type: 'text', mono: true },
      { name: 'outcome', type: 'select', options: ['ok', 'refused', 'error'], prefix: 'outcome.audit' },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.audit_id,
    rowClass: (r) => (r.outcome === 'refused' ? 'row-warn' : r.outcome === 'error' ? 'row-bad' : null),
    columns: [
      { label: 'col.audit_id', cell: (r) => mono(r.audit_id) },
      { label: 'col.at', cell: (r) => timeCell(r.at) },
      { label: 'col.actor', cell: (r) => text(r.actor) },
      { label: 'col.role', cell: (r) => (r.role ? badge('role', r.role) : null) },
      { label: 'col.action', cell: (r) => mono(r.action) },
      { label: 'col.target', cell: (r) => mono(r.target) },
      { label: 'col.outcome', cell: (r) => badge('outcome.audit', r.outcome) },
      { label: 'col.client', cell: (r) => mono(r.client) },
      { label: 'col.detail', cell: (r) => detailCell(r.detail) },
    ],
  });
}
