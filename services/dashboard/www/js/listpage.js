// listpage.js — every list page: a filter bar (kept in the address, so back/forward and a
// shared link show the same list), the table, keyset pages (next_cursor forward, a stack of
// cursors back), checkboxes with bulk actions on the selected rows or on everything the
// filter matches (confirmed first), and a notice when the live stream says the list changed.
import { get } from './api.js';
import { t, tv } from './i18n.js';
import { h, clear, message, errorMessage, confirmDialog } from './dom.js';

export const PAGE_SIZES = [20, 50, 100, 200];

// The filter values of a list from the route's query (defaults for absent ones).
export function readFilters(cfg, query) {
  const out = {};
  for (const f of cfg.filters || []) {
    const v = query.get(f.name);
    if (v !== null) out[f.name] = v;
    else if (cfg.defaults && f.name in cfg.defaults) out[f.name] = cfg.defaults[f.name];
    else out[f.name] = '';
  }
  return out;
}

function filterControl(f, value) {
  const id = `f-${f.name}`;
  const label = t(f.label || `f.${f.name}`);
  let input;
  if (f.type === 'select' || f.type === 'bool') {
    const opts = f.type === 'bool' ? ['true', 'false'] : f.options;
    input = h('select', { id, name: f.name },
      f.required ? null : h('option', { value: '' }, t(f.anyLabel || 'common.any')),
      opts.map((o) => h('option', { value: o, selected: o === value },
        f.type === 'bool' ? t(`${f.prefix || 'bool'}.${o}`) : tv(f.prefix, o))));
  } else {
    input = h('input', {
      id, name: f.name, type: f.type === 'date' ? 'date' : 'text', value: value || '',
      class: f.mono ? 'mono' : null, size: f.size || (f.type === 'date' ? null : 14),
      placeholder: f.placeholder ? t(f.placeholder) : null, autocomplete: 'off',
    });
  }
  return h('label.field', { for: id }, h('span.field-label', label), input);
}

// listPage(ctx, cfg) renders into ctx.el; returns {reload, selected}.
export function listPage(ctx, cfg) {
  const filters = readFilters(cfg, ctx.query);
  const limit = Number(ctx.query.get('limit')) || cfg.limit || 50;
  const cursors = [null]; // cursors[i] = the cursor of page i
  let pageIndex = 0;
  let rows = [];
  const selected = new Set();

  const root = clear(ctx.el);
  const head = h('div.page-head',
    h('h1', t(cfg.title)),
    cfg.subtitle ? h('span.page-sub', t(cfg.subtitle)) : null);
  root.appendChild(head);
  if (cfg.before) root.appendChild(cfg.before(ctx));

  // ---- filters ----
  const form = h('form.filters', { 'data-test': 'filters' },
    (cfg.filters || []).map((f) => filterControl(f, filters[f.name])),
    h('label.field', { for: 'f-limit' }, h('span.field-label', t('f.limit')),
      h('select', { id: 'f-limit', name: 'limit' },
        PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === limit }, String(n))))),
    h('div.filter-buttons',
      h('button.btn.btn-primary', { type: 'submit', 'data-test': 'search' }, t('common.search')),
      h('button.btn', { type: 'button', onclick: () => ctx.navigate(ctx.path, {}) }, t('common.reset'))));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = {};
    for (const f of cfg.filters || []) {
      const v = form.elements[f.name].value.trim();
      if (v !== '') q[f.name] = v;
      else if (cfg.defaults && f.name in cfg.defaults && cfg.defaults[f.name] !== '') q[f.name] = '';
    }
    const l = form.elements.limit.value;
    if (Number(l) !== (cfg.limit || 50)) q.limit = l;
    ctx.navigate(ctx.path, q, { force: true });
  });
  root.appendChild(form);

  const liveNote = h('div.live-note.hidden', { 'data-test': 'live-note' },
    t('list.changed'), ' ',
    h('button.btn.btn-small', { type: 'button', onclick: () => { liveNote.classList.add('hidden'); load(); } },
      t('common.refresh')));
  root.appendChild(liveNote);
  const msgs = h('div.msgs');
  root.appendChild(msgs);

  // ---- bulk bar ----
  const bulkSel = (cfg.bulk || []).filter((b) => b.kind !== 'filter');
  const bulkAll = (cfg.bulk || []).filter((b) => b.kind === 'filter');
  const selCount = h('span.sel-count');
  const selButtons = bulkSel.map((b) => h('button.btn', {
    type: 'button', disabled: true, 'data-test': b.test || null,
    onclick: () => runBulk(b, { ids: [...selected] }, t(b.confirm || 'bulk.confirm_selected', { n: selected.size })),
  }, t(b.label)));
  const allButtons = bulkAll.map((b) => h('button.btn.btn-warn', {
    type: 'button', 'data-test': b.test || null,
    onclick: () => runBulk(b, { filter: apiFilter() }, t(b.confirm || 'bulk.confirm_filter',
      { filter: describeFilter() })),
  }, t(b.label)));
  const bulkBar = (cfg.bulk || []).length
    ? h('div.bulk-bar', selCount, selButtons, allButtons.length ? h('span.sep') : null, allButtons)
    : null;
  if (bulkBar) root.appendChild(bulkBar);

  // ---- table ----
  const selectable = typeof cfg.selectable === 'function';
  const allBox = selectable ? h('input', { type: 'checkbox', 'aria-label': t('list.select_page'),
    onchange: () => {
      for (const r of rows) if (cfg.selectable(r)) (allBox.checked ? selected.add(cfg.rowKey(r)) : selected.delete(cfg.rowKey(r)));
      renderRows();
    } }) : null;
  const thead = h('thead', h('tr',
    selectable ? h('th.c-check', allBox) : null,
    cfg.expand ? h('th.c-act', t('common.actions')) : null, // on the left: in view however wide
    cfg.columns.map((c) => h(`th${c.cls ? '.' + c.cls : ''}`, t(c.label)))));
  const tbody = h('tbody');
  const table = h('table.grid', { 'data-test': cfg.test || 'list' }, thead, tbody);
  root.appendChild(h('div.table-wrap', table));

  // ---- pager ----
  const pageInfo = h('span.page-info');
  const prevBtn = h('button.btn', { type: 'button', 'data-test': 'prev', onclick: () => {
    if (pageIndex > 0) { pageIndex -= 1; load(); }
  } }, '‹ ', t('list.prev'));
  const nextBtn = h('button.btn', { type: 'button', 'data-test': 'next', onclick: () => {
    if (cursors[pageIndex + 1]) { pageIndex += 1; load(); }
  } }, t('list.next'), ' ›');
  root.appendChild(h('div.pager', prevBtn, pageInfo, nextBtn));

  function apiFilter() {
    const f = {};
    for (const [k, v] of Object.entries(filters)) if (v !== '') f[k] = v;
    return f;
  }

  function describeFilter() {
    const parts = Object.entries(apiFilter()).map(([k, v]) => `${t(`f.${k}`)} = ${v}`);
    return parts.length ? parts.join(', ') : t('bulk.no_filter');
  }

  function updateBulk() {
    selCount.textContent = t('list.selected', { n: selected.size });
    for (const b of selButtons) b.disabled = selected.size === 0;
  }

  function renderRows() {
    clear(tbody);
    const ncols = cfg.columns.length + (selectable ? 1 : 0) + (cfg.expand ? 1 : 0);
    if (!rows.length) {
      tbody.appendChild(h('tr.empty', h('td', { colspan: ncols }, t('list.empty'))));
    }
    for (const r of rows) {
      const key = cfg.rowKey ? cfg.rowKey(r) : null;
      const tr = h('tr', { dataset: { key: key === null ? '' : String(key) } });
      if (cfg.rowClass) {
        const c = cfg.rowClass(r);
        if (c) tr.classList.add(c);
      }
      if (selectable) {
        const ok = cfg.selectable(r);
        tr.appendChild(h('td.c-check', h('input', {
          type: 'checkbox', disabled: !ok, checked: selected.has(key), 'aria-label': String(key),
          title: ok ? null : t(cfg.notSelectable || 'list.not_selectable'),
          onchange: (e) => {
            if (e.target.checked) selected.add(key);
            else selected.delete(key);
            updateBulk();
          } })));
      }
      let actionRow = null;
      if (cfg.expand) {
        const can = !cfg.canExpand || cfg.canExpand(r, ctx);
        tr.appendChild(h('td.c-act', can ? h('button.btn.btn-small', {
          type: 'button', 'data-test': 'expand',
          onclick: () => {
            if (actionRow) { actionRow.remove(); actionRow = null; return; }
            actionRow = h('tr.action-row', h('td', { colspan: ncols },
              cfg.expand(r, { ...ctx, tr, reload: load,
                close: () => { if (actionRow) actionRow.remove(); actionRow = null; } })));
            tr.after(actionRow);
          } }, t(cfg.expandLabel || 'common.handle')) : null));
      }
      for (const c of cfg.columns) {
        const v = c.cell ? c.cell(r, ctx) : r[c.key];
        tr.appendChild(h(`td${c.cls ? '.' + c.cls : ''}`, v === null || v === undefined || v === ''
          ? h('span.muted', '—') : v));
      }
      tbody.appendChild(tr);
    }
    if (allBox) {
      const selectableRows = rows.filter((r) => cfg.selectable(r));
      allBox.checked = selectableRows.length > 0 && selectableRows.every((r) => selected.has(cfg.rowKey(r)));
      allBox.disabled = selectableRows.length === 0;
    }
    updateBulk();
  }

  async function load() {
    clear(msgs);
    table.classList.add('loading');
    try {
      const q = { ...apiFilter(), limit };
      if (cursors[pageIndex]) q.cursor = cursors[pageIndex];
      const { data } = await get(cfg.endpoint, q);
      rows = Array.isArray(data) ? data : (data.items || []);
      cursors.length = pageIndex + 1;
      if (data && data.next_cursor) cursors.push(data.next_cursor);
      if (cfg.onData) cfg.onData(data, rows);
    } catch (err) {
      rows = [];
      msgs.appendChild(errorMessage(err));
    }
    table.classList.remove('loading');
    pageInfo.textContent = t('list.page', { n: pageIndex + 1, count: rows.length });
    prevBtn.disabled = pageIndex === 0;
    nextBtn.disabled = !cursors[pageIndex + 1];
    renderRows();
  }

  async function runBulk(b, payload, confirmText) {
    if (b.kind === 'filter' || b.confirmAlways !== false) {
      const ok = await confirmDialog(t(b.label), confirmText);
      if (!ok) return;
    }
    clear(msgs);
    try {
      const res = await b.run(payload);
      selected.clear();
      await load(); // clears the messages first
      msgs.appendChild(message('ok', res));
    } catch (err) {
      msgs.appendChild(errorMessage(err));
    }
  }

  if (cfg.live && ctx.live) {
    ctx.onCleanup(ctx.live.on(cfg.live, () => liveNote.classList.remove('hidden')));
  }

  load();
  return { reload: load, selected, messages: msgs };
}
