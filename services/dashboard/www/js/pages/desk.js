// desk.js — 直充台, the recharge desk (R1): queue length and head, every order locked now with
// a live countdown of its lease, the user's own leases (the account to top up; complete as
// success/failed with the provider's reference, or release), and suspended orders to
// resolve (success / failed / retry), one at a time or the checked ones together (POST
// /api/v1/desk/resolve-bulk, after a confirmation; the answer lists what was skipped and
// why). Updated live: a `desk` event on /api/v1/live
// re-fetches GET /api/v1/desk, without reloading the page.
//
// Countdowns: the lease ends at lock_expires_at on the DATABASE clock. The browser's clock
// may differ, so remaining = lock_expires_at − (client now + (server_time − client time)),
// the offset measured at each fetch (api.js).
import { get, post, session } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, badge, mono, money, text, timeCell, parseTime, fmtDuration, fmtTime, message, errorMessage,
  orderLink, confirmDialog } from '../dom.js';
import { can, ROLES_DESK_ACT } from '../roles.js';

const DEFAULT_WINDOW_MS = 10000;
let deskWindowMs = DEFAULT_WINDOW_MS; // LOCK_WINDOW_S as /desk reports it

function serverNow() {
  return Date.now() + session().clockOffsetMs;
}

// A countdown element; tick() keeps its text and bar current.
function countdown(row) {
  const expires = parseTime(row.lock_expires_at);
  const start = parseTime(row.renewed_at || row.locked_at);
  const windowMs = !Number.isNaN(start) && expires > start ? expires - start : deskWindowMs;
  const bar = h('span.cd-bar-fill');
  const label = h('span.cd-text');
  return h('span.countdown', {
    'data-test': 'countdown', dataset: { order: row.order_id, expires: String(expires), window: String(windowMs) },
  }, h('span.cd-bar', bar), label);
}

function tick(root) {
  const now = serverNow();
  let expired = false;
  for (const el of root.querySelectorAll('.countdown')) {
    const rem = Number(el.dataset.expires) - now;
    const windowMs = Number(el.dataset.window) || DEFAULT_WINDOW_MS;
    el.dataset.remainingMs = String(Math.round(rem));
    const label = el.querySelector('.cd-text');
    const fill = el.querySelector('.cd-bar-fill');
    if (Number.isNaN(rem)) {
      label.textContent = '—';
      continue;
    }
    if (rem <= 0) {
      if (!el.classList.contains('cd-expired')) expired = true;
      el.classList.add('cd-expired');
      label.textContent = t('desk.expired');
      fill.style.width = '0%'; // CSSOM, allowed by the CSP (no inline style attribute)
    } else {
      el.classList.remove('cd-expired');
      el.classList.toggle('cd-low', rem < 3000);
      label.textContent = t('desk.seconds', { s: (rem / 1000).toFixed(1) });
      fill.style.width = `${Math.max(0, Math.min(100, (rem / windowMs) * 100)).toFixed(1)}%`;
    }
  }
  return expired;
}

export function render(ctx) {
  const user = ctx.user;
  const mayAct = can(user, ROLES_DESK_ACT);
  const root = clear(ctx.el);
  const tokens = new Map(); // order_id → lock_token of my leases (from the lock answer or /desk)
  const mineCards = new Map(); // order_id → card element (kept across refreshes: inputs survive)
  const suspRows = new Map(); // order_id → row element of the suspended table
  const suspSelected = new Set(); // order_ids checked for a bulk resolve (kept across refreshes)

  const msgs = h('div.msgs', { 'data-test': 'desk-msgs' });
  const lockBtn = mayAct ? h('button.btn.btn-primary', { type: 'button', 'data-test': 'desk-lock', onclick: lockNext },
    t('desk.lock_next')) : null;
  const updated = h('span.muted.updated', { 'data-test': 'desk-updated' });
  root.append(h('div.page-head', h('h1', t('page.desk')), h('span.page-sub', t('desk.sub')),
    h('div.head-actions', updated, lockBtn)), msgs);

  const stats = h('div.stats', { 'data-test': 'desk-stats' });
  const mineBox = h('div.lease-cards', { 'data-test': 'desk-mine' });
  const lockedBody = h('tbody');
  const suspBody = h('tbody');
  const queueBody = h('tbody');
  const th = (...keys) => h('thead', h('tr', keys.map((k) => h('th', t(k)))));
  // suspended: a checkbox per row, one to check every listed row, and "resolve selected as …"
  const suspAll = mayAct ? h('input', { type: 'checkbox', 'aria-label': t('list.select_page'),
    'data-test': 'suspended-select-all', onchange: () => {
      for (const k of suspRows.keys()) (suspAll.checked ? suspSelected.add(k) : suspSelected.delete(k));
      syncSuspChecks();
    } }) : null;
  const suspCount = h('span.sel-count', { 'data-test': 'suspended-selected' });
  const bulkOutcome = h('select', { name: 'bulk_outcome', 'data-test': 'bulk-resolve-outcome' },
    ['success', 'failed', 'retry'].map((o) => h('option', { value: o }, tv('outcome.resolve', o))));
  const bulkRef = h('input', { type: 'text', name: 'bulk_provider_ref', class: 'mono', size: 12, autocomplete: 'off',
    placeholder: t('col.provider_ref'), 'data-test': 'bulk-resolve-ref' });
  const bulkBtn = h('button.btn.btn-small.btn-primary', { type: 'button', disabled: true,
    'data-test': 'bulk-resolve', onclick: resolveSelected }, t('desk.resolve'));
  const suspBulk = mayAct ? h('div.bulk-bar', { 'data-test': 'suspended-bulk' }, suspCount,
    h('label.field', h('span.field-label', t('desk.bulk_resolve')), bulkOutcome), bulkRef, bulkBtn) : null;
  const suspHead = h('thead', h('tr', mayAct ? h('th.c-check', suspAll) : null,
    ['col.order_id', 'col.product', 'col.face_value', 'col.account', 'col.attempts', 'col.result',
      'col.suspend_reason', 'col.result_at', 'common.actions'].map((k) => h('th', t(k)))));
  // what needs the user first: their leases, then suspended orders; then who holds what
  // and the queue
  root.append(
    stats,
    h('section.card', h('h2', t('desk.mine')), mineBox),
    h('section.card', h('h2', t('desk.suspended')), suspBulk,
      h('div.table-scroll', h('table.grid.grid-compact', { 'data-test': 'desk-suspended' }, suspHead,
        suspBody))),
    h('div.desk-grid',
      h('section.card', h('h2', t('desk.locked')),
        h('table.grid.grid-compact', { 'data-test': 'desk-locked' },
          th('col.order_id', 'col.locked_by', 'col.product', 'col.face_value', 'col.account', 'desk.lease'),
          lockedBody)),
      h('section.card', h('h2', t('desk.queue')),
        h('table.grid.grid-compact', { 'data-test': 'desk-queue' },
          th('col.order_id', 'col.product', 'col.face_value', 'col.amount', 'col.queued_at', 'desk.waiting'),
          queueBody))));

  let msgTimer = null;
  function show(kind, ...body) {
    const el = message(kind, ...body);
    clear(msgs).appendChild(el);
    clearTimeout(msgTimer);
    msgTimer = setTimeout(() => el.remove(), 8000); // a success is news for a moment only
  }

  async function act(path, body, okText) {
    try {
      const { data } = await post(path, body);
      show('ok', okText);
      await refresh();
      return data;
    } catch (err) {
      clear(msgs).appendChild(errorMessage(err));
      await refresh();
      return null;
    }
  }

  async function lockNext() {
    lockBtn.disabled = true;
    try {
      const { data } = await post('/desk/lock', {});
      const lease = data.lease || data;
      if (lease.lock_token) tokens.set(lease.order_id, lease.lock_token);
      show('ok', t('desk.locked_msg', { order: lease.order_id }));
    } catch (err) {
      clear(msgs).appendChild(errorMessage(err));
    }
    lockBtn.disabled = false;
    await refresh();
  }

  function mineCard(r) {
    const outcome = h('select', { name: 'outcome', 'data-test': 'lease-outcome' },
      ['success', 'failed'].map((o) => h('option', { value: o }, tv('outcome.recharge', o))));
    const ref = h('input', { type: 'text', name: 'provider_ref', class: 'mono', size: 16, autocomplete: 'off',
      placeholder: t('desk.provider_ref_ph'), 'data-test': 'lease-ref' });
    const form = h('form.lease-form',
      h('label.field', h('span.field-label', t('desk.outcome')), outcome),
      h('label.field', h('span.field-label', t('col.provider_ref')), ref),
      h('div.form-actions',
        h('button.btn.btn-primary', { type: 'submit', 'data-test': 'lease-complete' }, t('desk.complete')),
        h('button.btn', { type: 'button', 'data-test': 'lease-release', onclick: () => act(
          `/desk/${encodeURIComponent(r.order_id)}/release`, { lock_token: tokens.get(r.order_id) },
          t('desk.released_msg', { order: r.order_id })) }, t('desk.release'))));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const body = { lock_token: tokens.get(r.order_id), outcome: outcome.value };
      if (ref.value.trim()) body.provider_ref = ref.value.trim();
      act(`/desk/${encodeURIComponent(r.order_id)}/complete`, body,
        t('desk.completed_msg', { order: r.order_id, outcome: tv('outcome.recharge', outcome.value) }));
    });
    const info = h('div.lease-info');
    const card = h('div.lease-card', { dataset: { order: r.order_id }, 'data-test': 'lease' },
      h('div.lease-top', orderLink(r.order_id), countdown(r)), info, form);
    card.updateInfo = (x) => {
      clear(info).append(
        h('div.lease-account', h('span.field-label', t('col.account')),
          h('span.mono.big', { 'data-test': 'lease-account' }, x.account || x.account_masked || '—')),
        h('div.lease-meta', h('span', t('col.product'), ': ', text(x.product)), h('span', t('col.face_value'), ': ',
          money(x.face_value)), x.amount ? h('span', t('col.amount'), ': ', money(x.amount)) : null,
        x.attempt_id ? h('span', t('col.attempt_id'), ': ', mono(x.attempt_id)) : null));
      const cd = card.querySelector('.countdown');
      cd.replaceWith(countdown(x));
    };
    return card;
  }

  function suspRow(r) {
    const outcome = h('select', { name: 'outcome', 'data-test': 'resolve-outcome' },
      ['success', 'failed', 'retry'].map((o) => h('option', { value: o }, tv('outcome.resolve', o))));
    const ref = h('input', { type: 'text', name: 'provider_ref', class: 'mono', size: 12, autocomplete: 'off',
      placeholder: t('col.provider_ref'), 'data-test': 'resolve-ref' });
    const form = h('form.inline-form', outcome, ref,
      h('button.btn.btn-small.btn-primary', { type: 'submit', 'data-test': 'resolve' }, t('desk.resolve')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const body = { outcome: outcome.value };
      if (ref.value.trim()) body.provider_ref = ref.value.trim();
      act(`/desk/${encodeURIComponent(r.order_id)}/resolve`, body,
        t('desk.resolved_msg', { order: r.order_id, outcome: tv('outcome.resolve', outcome.value) }));
    });
    const cells = h('td.c-act', mayAct ? form : null);
    const check = mayAct ? h('td.c-check', h('input', { type: 'checkbox', 'aria-label': r.order_id,
      'data-test': 'suspended-check', checked: suspSelected.has(r.order_id), onchange: (e) => {
        if (e.target.checked) suspSelected.add(r.order_id);
        else suspSelected.delete(r.order_id);
        syncSuspChecks();
      } })) : null;
    const tr = h('tr', { dataset: { key: r.order_id }, 'data-test': 'suspended-row' });
    tr.updateInfo = (x) => {
      clear(tr).append(check || '', h('td', orderLink(x.order_id)), h('td', text(x.product)), h('td.c-num', money(x.face_value)),
        h('td', mono(x.account || x.account_masked)), h('td.c-num', text(x.attempts)), h('td', badge('outcome.recharge', x.result)),
        h('td.reason', text(x.suspend_reason)), h('td', timeCell(x.result_at)), cells);
    };
    return tr;
  }

  // The checkboxes, the select-all box and the bulk button agree with suspSelected.
  function syncSuspChecks() {
    if (!mayAct) return;
    for (const [k, tr] of suspRows) {
      const box = tr.querySelector('input[type=checkbox]');
      if (box) box.checked = suspSelected.has(k);
    }
    suspAll.checked = suspRows.size > 0 && [...suspRows.keys()].every((k) => suspSelected.has(k));
    suspAll.disabled = suspRows.size === 0;
    suspCount.textContent = t('list.selected', { n: suspSelected.size });
    bulkBtn.disabled = suspSelected.size === 0;
  }

  // "Resolve selected as …": confirmed first; the answer (resolved, skipped with the reason)
  // stays on the page until the next message.
  async function resolveSelected() {
    const ids = [...suspSelected];
    if (!ids.length) return;
    const outcome = bulkOutcome.value;
    const ok = await confirmDialog(t('desk.bulk_resolve_title'),
      t('desk.confirm_bulk_resolve', { n: ids.length, outcome: tv('outcome.resolve', outcome) }));
    if (!ok) return;
    const body = { outcome, ids };
    if (bulkRef.value.trim()) body.provider_ref = bulkRef.value.trim();
    bulkBtn.disabled = true;
    try {
      const { data: d } = await post('/desk/resolve-bulk', body);
      const skipped = Array.isArray(d.skipped) ? d.skipped : [];
      clearTimeout(msgTimer);
      clear(msgs).appendChild(message('ok', h('span', { 'data-test': 'bulk-resolve-result' },
        t('desk.bulk_resolved', { resolved: d.resolved ?? 0, skipped: skipped.length })),
      skipped.length ? h('ul.skip-list', skipped.slice(0, 20).map((x) =>
        h('li', h('span.mono', x.order_id), ' ', x.reason || ''))) : null));
      suspSelected.clear();
      bulkRef.value = '';
    } catch (err) {
      clear(msgs).appendChild(errorMessage(err));
    }
    await refresh();
  }

  // Keyed update: existing elements (with what the user typed) are kept for the same order.
  function reconcile(box, map, rows, make, emptyText, colspan) {
    const seen = new Set();
    const els = rows.map((r) => {
      seen.add(r.order_id);
      let el = map.get(r.order_id);
      if (!el) {
        el = make(r);
        map.set(r.order_id, el);
      }
      el.updateInfo(r);
      return el;
    });
    for (const k of [...map.keys()]) if (!seen.has(k)) map.delete(k);
    clear(box);
    if (!els.length) {
      box.appendChild(colspan ? h('tr.empty', h('td', { colspan }, emptyText)) : h('p.muted.empty', emptyText));
    }
    box.append(...els);
  }

  let data = null;
  async function refresh() {
    try {
      ({ data } = await get('/desk'));
    } catch (err) {
      clear(msgs).appendChild(errorMessage(err));
      return;
    }
    const me = user.name;
    if (data.lock_window_s > 0) deskWindowMs = data.lock_window_s * 1000;
    const mine = data.mine || [];
    for (const m of mine) if (m.lock_token) tokens.set(m.order_id, m.lock_token);
    const queue = data.queue || [];
    const locked = data.locked || [];
    const suspended = data.suspended || [];
    const head = queue[0];
    const now = serverNow();
    clear(stats).append(
      h('div.stat', { 'data-test': 'queue-length' }, h('div.stat-num', `${data.queue_length ?? queue.length}${data.queue_length_capped ? '+' : ''}`),
        h('div.stat-label', t('desk.queue_length'))),
      h('div.stat.stat-wide', { 'data-test': 'queue-head' },
        h('div.stat-num.mono', head ? head.order_id : '—'),
        h('div.stat-label', t('desk.queue_head'), head && head.queued_at
          ? ` · ${t('desk.waiting_for', { d: fmtDuration((now - parseTime(head.queued_at)) / 1000) })}` : '')),
      h('div.stat', { 'data-test': 'locked-count' }, h('div.stat-num', String(locked.length)),
        h('div.stat-label', t('desk.locked_now'))),
      h('div.stat', { 'data-test': 'mine-count' }, h('div.stat-num', String(mine.length)),
        h('div.stat-label', t('desk.my_leases'))),
      h('div.stat', { class: suspended.length ? 'stat-alert' : null, 'data-test': 'suspended-count' },
        h('div.stat-num', String(suspended.length)), h('div.stat-label', t('desk.suspended_count'))));

    reconcile(mineBox, mineCards, mine, mineCard, t('desk.no_leases'));
    clear(lockedBody);
    if (!locked.length) lockedBody.appendChild(h('tr.empty', h('td', { colspan: 6 }, t('desk.none_locked'))));
    for (const r of locked) {
      lockedBody.appendChild(h('tr', { dataset: { key: r.order_id }, class: r.locked_by === me ? 'row-mine' : null },
        h('td', orderLink(r.order_id)), h('td', text(r.locked_by)), h('td', text(r.product)),
        h('td.c-num', money(r.face_value)), h('td', mono(r.account || r.account_masked)), h('td', countdown(r))));
    }
    clear(queueBody);
    if (!queue.length) queueBody.appendChild(h('tr.empty', h('td', { colspan: 6 }, t('desk.queue_empty'))));
    for (const r of queue) {
      const since = parseTime(r.queued_at || r.requested_at);
      queueBody.appendChild(h('tr', { dataset: { key: r.order_id } }, h('td', orderLink(r.order_id)),
        h('td', text(r.product)), h('td.c-num', money(r.face_value)), h('td.c-num', money(r.amount)),
        h('td', timeCell(r.queued_at || r.requested_at)),
        h('td', Number.isNaN(since) ? '' : fmtDuration((now - since) / 1000))));
    }
    reconcile(suspBody, suspRows, suspended, suspRow, t('desk.none_suspended'), mayAct ? 10 : 9);
    for (const k of [...suspSelected]) if (!suspRows.has(k)) suspSelected.delete(k); // settled meanwhile
    syncSuspChecks();
    updated.textContent = t('desk.updated', { time: fmtTime(new Date().toISOString()).slice(11) });
    tick(root);
    window.__deskFetches = (window.__deskFetches || 0) + 1;
  }

  // Live: re-fetch on `desk` events (coalesced), and once when a lease runs out here.
  let pending = null;
  const soon = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh();
    }, 50);
  };
  ctx.onCleanup(ctx.live.on('desk', soon));
  const timer = setInterval(() => {
    if (tick(root)) setTimeout(soon, 700);
  }, 100);
  ctx.onCleanup(() => {
    clearInterval(timer);
    clearTimeout(msgTimer);
    if (pending) clearTimeout(pending);
  });
  refresh();
}
