// tasks.js — 我的任務: tasks of the user and their queues (mine=true) or everyone's, by status,
// kind, assignee, order and time (GET /api/v1/tasks). Each open task opens its action form
// (taskform.js); tasks whose kind needs no event can be ticked and marked done together
// (POST /api/v1/tasks/bulk-complete with the ids, or with the filter for all that match).
import { post } from '../api.js';
import { t } from '../i18n.js';
import { listPage } from '../listpage.js';
import { h, clear, badge, mono, timeCell, orderLink, detailCell } from '../dom.js';
import { taskForm, isEventKind, TASK_KINDS } from './taskform.js';

export function render(ctx) {
  const bulkResult = (d) => {
    const skipped = Array.isArray(d.skipped_tasks) ? d.skipped_tasks : [];
    return h('span', t('bulk.completed', { completed: d.completed ?? 0, skipped: d.skipped ?? skipped.length }),
      d.capped ? h('span', ' ', t('bulk.capped')) : null,
      skipped.length ? h('ul.skip-list', skipped.slice(0, 20).map((s) =>
        h('li', h('span.mono', `#${s.task_id}`), ' ', s.reason || ''))) : null);
  };
  listPage(ctx, {
    title: 'page.tasks',
    endpoint: '/tasks',
    test: 'tasks',
    live: 'tasks',
    defaults: { mine: 'true', status: 'open' },
    filters: [
      { name: 'mine', type: 'select', options: ['true', 'false'], prefix: 'mine', required: true },
      { name: 'status', type: 'select', options: ['open', 'done', 'all'], prefix: 'state.task', required: true },
      { name: 'kind', type: 'select', options: TASK_KINDS, prefix: 'kind.task' },
      { name: 'assignee', type: 'text' },
      { name: 'order_id', type: 'text', mono: true, size: 20 },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.task_id,
    selectable: (r) => r.status === 'open' && !isEventKind(r.kind),
    notSelectable: 'task.not_bulk',
    bulk: [
      { label: 'bulk.mark_done', test: 'bulk-done',
        run: async (p) => bulkResult((await post('/tasks/bulk-complete', p)).data) },
      { label: 'bulk.mark_done_filter', kind: 'filter', test: 'bulk-done-filter',
        run: async (p) => bulkResult((await post('/tasks/bulk-complete', p)).data) },
    ],
    columns: [
      { label: 'col.task_id', cell: (r) => mono(r.task_id) },
      { label: 'col.order_id', cell: (r) => orderLink(r.order_id) },
      { label: 'col.kind', cell: (r) => badge('kind.task', r.kind) },
      { label: 'col.assignee', key: 'assignee' },
      { label: 'col.status', cell: (r) => h('span', { 'data-test': 'task-status' }, badge('state.task', r.status)) },
      { label: 'col.created_at', cell: (r) => timeCell(r.created_at) },
      { label: 'col.closed_at', cell: (r) => timeCell(r.closed_at) },
      { label: 'col.closed_by', key: 'closed_by' },
      { label: 'col.detail', cell: (r) => detailCell(r.detail) },
    ],
    // once done, the row says so (the list is not reloaded: the answer stays in view)
    expand: (r, c) => taskForm(r, { onDone: (d) => {
      if (d && d.status === 'pending') return;
      c.tr.classList.add('row-done');
      for (const el of c.tr.querySelectorAll('input, button')) el.disabled = true;
      const cells = c.tr.querySelectorAll('[data-test=task-status]');
      for (const cell of cells) clear(cell).appendChild(badge('state.task', 'done'));
    } }),
    canExpand: (r) => r.status === 'open',
  });
}
