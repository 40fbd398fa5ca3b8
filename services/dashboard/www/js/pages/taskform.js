// taskform.js — the action form of one task, by kind (POST /api/v1/tasks/{id}/complete):
//   fix_waybill       outcome fixed | not_found (+ cause, courier)          → A11 / A12
//   cancel_waybill    outcome cancelled (已取消) | not_found (查無) (+ cause, courier), relister → A16 / A17
//   register_refund, refund_due   channel, account, real name, amount, reason → F3
//   register_balance  amount, reason                                          → F3
//   any other kind    mark done (no event, no note)
// The answer is shown in place: the notes the action left (in the chosen language), the
// rejection reason (422, the rule that refused it), or "pending" when the outcome was not
// known within the server's wait.
import { post } from '../api.js';
import { t, tv, noteText } from '../i18n.js';
import { h, clear, message, errorMessage } from '../dom.js';

export const EVENT_KINDS = ['fix_waybill', 'cancel_waybill', 'register_refund', 'refund_due',
  'register_balance'];
export const TASK_KINDS = ['fix_waybill', 'cancel_waybill', 'register_refund', 'refund_due',
  'register_balance', 'relist', 'special_order', 'print_watch', 'cancel_done', 'cancel_followup',
  'after_sales'];

export const isEventKind = (kind) => EVENT_KINDS.includes(kind);

function field(name, labelKey, input, opts = {}) {
  input.name = name;
  input.id = `tf-${name}-${Math.random().toString(36).slice(2, 8)}`;
  if (opts.required) input.required = true;
  return h(`label.field${opts.wide ? '.field-wide' : ''}`, { for: input.id, dataset: { field: name } },
    h('span.field-label', t(labelKey), opts.required ? h('span.req', '*') : null), input);
}

const text = (value, extra = {}) => h('input', { type: 'text', value: value || '', autocomplete: 'off', ...extra });
const amountInput = (value) => text(value, { inputmode: 'decimal', pattern: '^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,2})?$',
  class: 'mono', size: 10 });
const select = (options, prefix, value) => h('select', {},
  options.map((o) => h('option', { value: o, selected: o === value }, tv(prefix, o))));

// The notes an action left, as a small timeline.
export function notesList(notes) {
  return h('ul.note-list', (notes || []).map((n) => h('li',
    h('span.note-text', { 'data-test': 'result-note' }, noteText(n)),
    n.author ? h('span.note-author', '— ', n.author) : null)));
}

// The answer of a completed action, as a message.
export function resultMessage(status, data) {
  if (data && data.status === 'pending') {
    return message('info', h('strong', t('task.pending')), ' ',
      h('span.mono', data.event_id || ''), ' ', t('task.pending_hint'));
  }
  if (data && Array.isArray(data.notes) && data.notes.length) {
    return message('ok', h('strong', t('task.applied')), notesList(data.notes));
  }
  if (data && data.status === 'applied') return message('ok', h('strong', t('task.applied_plain')));
  return message('ok', h('strong', t('task.done')));
}

// taskForm(task, {onDone}) → the form element.
export function taskForm(task, opts = {}) {
  const d = task.detail || {};
  const out = h('div.task-result', { 'data-test': 'task-result' });
  const fields = h('div.form-row');
  const kind = task.kind;
  let extra = null; // fields shown only for an outcome

  if (kind === 'fix_waybill' || kind === 'cancel_waybill') {
    const outcomes = kind === 'fix_waybill' ? ['fixed', 'not_found'] : ['cancelled', 'not_found'];
    const prefix = kind === 'fix_waybill' ? 'outcome.fix' : 'outcome.cancel';
    const outcome = select(outcomes, prefix, outcomes[0]);
    fields.appendChild(field('outcome', 'tf.outcome', outcome, { required: true }));
    if (kind === 'cancel_waybill') fields.appendChild(field('relister', 'tf.relister', text(d.relister)));
    extra = h('div.form-row.hidden',
      field('cause', 'tf.cause', text(d.cause, { size: 24 })),
      field('courier', 'tf.courier', text(d.courier)));
    outcome.addEventListener('change', () => extra.classList.toggle('hidden', outcome.value !== 'not_found'));
  } else if (kind === 'register_refund' || kind === 'refund_due') {
    // The task may carry the refund's account and real name (F2). The server masks them for
    // anyone but a supervisor: a masked value is shown as a hint and the field left empty,
    // so that the server takes the value on file instead of the stars.
    const onFile = (name, extra = {}) => {
      const v = d[name];
      if (typeof v === 'string' && v.includes('*')) {
        return [text('', { ...extra, placeholder: `${v} · ${t('tf.on_file')}`, title: t('tf.on_file') }), false];
      }
      return [text(v, extra), true];
    };
    const [account, accountRequired] = onFile('account', { class: 'mono' });
    const [realName, realNameRequired] = onFile('real_name');
    fields.append(
      field('channel', 'tf.channel', select(['alipay', 'bank'], 'channel', d.channel || 'alipay'), { required: true }),
      field('account', 'tf.account', account, { required: accountRequired }),
      field('real_name', 'tf.real_name', realName, { required: realNameRequired }),
      field('amount', 'tf.amount', amountInput(d.amount), { required: true }),
      field('reason', 'tf.reason', text(d.reason, { size: 30 }), { required: true, wide: true }));
  } else if (kind === 'register_balance') {
    fields.append(
      field('amount', 'tf.amount', amountInput(d.amount), { required: true }),
      field('reason', 'tf.reason', text(d.reason, { size: 30 }), { required: true, wide: true }));
  } else {
    fields.appendChild(h('p.hint', t('tf.mark_done_hint', { kind: tv('kind.task', kind) })));
  }

  const submit = h('button.btn.btn-primary', { type: 'submit', 'data-test': 'task-submit' },
    isEventKind(kind) ? t('tf.submit') : t('tf.mark_done'));
  const form = h('form.task-form', { 'data-test': `task-form-${kind}`, dataset: { task: String(task.task_id) } },
    h('div.task-form-head', h('span.badge.b-blue', tv('kind.task', kind)), ' ',
      h('span.mono', `#${task.task_id}`), ' ', h('span.muted', task.order_id || '')),
    fields, extra, h('div.form-actions', submit), out);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(out);
    const body = {};
    for (const el of form.querySelectorAll('input, select, textarea')) {
      if (!el.name || el.closest('.hidden')) continue;
      const v = el.value.trim();
      if (v !== '') body[el.name] = v;
    }
    submit.disabled = true;
    try {
      const { status, data } = await post(`/tasks/${encodeURIComponent(task.task_id)}/complete`, body);
      out.appendChild(resultMessage(status, data));
      if (!data || data.status !== 'pending') {
        for (const el of form.querySelectorAll('input, select, button')) el.disabled = true;
      } else submit.disabled = false;
      if (opts.onDone) opts.onDone(data);
    } catch (err) {
      out.appendChild(errorMessage(err));
      submit.disabled = false;
    }
  });
  return form;
}
