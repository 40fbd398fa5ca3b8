// dom.js — building the page without HTML strings (data never goes through innerHTML, so a
// buyer id or a note cannot inject markup; the CSP forbids inline scripts and styles too),
// and the formatting every page shares: times, durations, amounts, badges, messages.
import { t, tv } from './i18n.js';

// h('tag.class1.class2', {attr: value, onclick: fn, dataset: {...}}, ...children)
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else if (k === 'style') throw new Error('no inline styles (CSP)');
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// ---- times ----

// The server answers "YYYY-MM-DDTHH:MM:SS.ffffffZ"; Date wants at most milliseconds.
export function parseTime(s) {
  if (!s) return NaN;
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(s);
  if (!m) return Date.parse(s);
  const frac = m[2] ? m[2].slice(0, 4) : '';
  return Date.parse(m[1] + frac + (m[3] || 'Z'));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// "2026-11-23 09:02:03" in the browser's time zone; "" for none.
export function fmtTime(s) {
  const ms = parseTime(s);
  if (Number.isNaN(ms)) return s ? String(s) : '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// A time in a table: "11-23 09:02:03" this year, "2025-11-23 09:02" before; the full time
// (and the server's UTC text) in the tooltip. full = always the full form (detail pages).
export function timeCell(s, full) {
  if (!s) return h('span.muted', '—');
  const long = fmtTime(s);
  let short = long;
  if (!full && /^\d{4}-/.test(long)) {
    short = long.slice(0, 4) === String(new Date().getFullYear()) ? long.slice(5) : long.slice(0, 16);
  }
  return h('time.ts', { datetime: s, title: `${long} (${s})` }, short);
}

// A duration in seconds as "2 天 3 小時" / "3 小時 5 分" / "4 分" / "12 秒".
export function fmtDuration(sec) {
  if (sec === null || sec === undefined || Number.isNaN(Number(sec))) return '';
  let s = Math.max(0, Math.floor(Number(sec)));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const m = Math.floor(s / 60);
  if (d > 0) return t('dur.dh', { d, h: hh });
  if (hh > 0) return t('dur.hm', { h: hh, m });
  if (m > 0) return t('dur.m', { m });
  return t('dur.s', { s });
}

// ---- values ----

export function mono(v) {
  if (v === null || v === undefined || v === '') return h('span.muted', '—');
  return h('span.mono', String(v));
}

export function money(v) {
  if (v === null || v === undefined || v === '') return h('span.muted', '—');
  return h('span.num', String(v));
}

export function text(v) {
  if (v === null || v === undefined || v === '') return h('span.muted', '—');
  return String(v);
}

export function yesNo(v) {
  if (v === null || v === undefined) return h('span.muted', '—');
  return h(v ? 'span.badge.b-grey' : 'span.muted', v ? t('common.yes') : t('common.no'));
}

// Badge colours per value: green done, blue in progress, amber waiting, red trouble.
const TONE = {
  unpaid: 'amber', paid: 'blue', printed: 'violet', shipped: 'green',
  open: 'amber', done: 'green',
  queued: 'amber', locked: 'blue', succeeded: 'green', failed: 'red', suspended: 'red',
  success: 'green', unknown: 'red', pending: 'amber',
  ordered: 'grey', notified: 'amber', verified: 'blue',
  ok: 'green', refused: 'amber', error: 'red',
  staff: 'blue', assistant: 'violet', supervisor: 'green', operations: 'grey',
};

export function badge(prefix, value) {
  if (value === null || value === undefined || value === '') return h('span.muted', '—');
  return h(`span.badge.b-${TONE[value] || 'grey'}`, { dataset: { value } }, tv(prefix, value));
}

// JSON detail (a task's or an audit row's) as compact "key: value" pairs.
export function detailCell(obj) {
  if (!obj || typeof obj !== 'object' || !Object.keys(obj).length) return h('span.muted', '—');
  return h('span.detail', { title: JSON.stringify(obj, null, 1) }, Object.entries(obj).map(([k, v]) =>
    h('span.kv', h('span.k', k), ' ', typeof v === 'object' ? JSON.stringify(v) : String(v))));
}

// ---- messages ----

// A message box: kind ok | error | info | warn. Returns the element.
export function message(kind, ...body) {
  return h(`div.msg.msg-${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, ...body);
}

const ERROR_TITLES = { 400: 'err.400', 401: 'err.401', 403: 'err.403', 404: 'err.404', 409: 'err.409',
  422: 'err.422', 429: 'err.429' };

// The API's error as a message: a title by status (titles overrides some) and the server's
// own words.
export function errorMessage(err, titles) {
  const status = err && err.status;
  let key = (titles && titles[status]) || ERROR_TITLES[status];
  if (!key) key = !status ? 'err.network' : status >= 500 ? 'err.5xx' : 'err.generic';
  return message('error', h('strong', t(key)), err && err.message ? h('span.detail-msg', err.message) : null);
}

// A short-lived notice at the top right (the result of an action).
export function toast(kind, textValue) {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div.toasts', { id: 'toasts' });
    document.body.appendChild(box);
  }
  const el = h(`div.toast.msg-${kind}`, { role: 'status' }, textValue);
  box.appendChild(el);
  setTimeout(() => el.remove(), 6000);
}

// A confirmation dialog (<dialog>): resolves true when confirmed.
export function confirmDialog(title, body) {
  return new Promise((resolve) => {
    const dlg = h('dialog.confirm');
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    dlg.append(
      h('h3', title),
      h('p', body),
      h('div.actions',
        h('button.btn', { type: 'button', onclick: () => done(false), 'data-test': 'confirm-cancel' },
          t('common.cancel')),
        h('button.btn.btn-primary', { type: 'button', onclick: () => done(true),
          'data-test': 'confirm-ok' }, t('common.confirm'))));
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

// A link to an order's page, its id in monospace.
export function orderLink(id) {
  if (!id) return h('span.muted', '—');
  return h('a.mono.link', { href: `#/orders/${encodeURIComponent(id)}`, 'data-order': id }, id);
}
