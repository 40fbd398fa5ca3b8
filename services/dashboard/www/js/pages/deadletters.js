// deadletters.js — 死信 (supervisors, operations): events refused with their reason, filtered
// by topic, type, source, reason, replayed and time (GET /api/v1/dead-letters). Selected
// rows, or everything the filter matches, can be replayed to their topic after a
// confirmation (POST /api/v1/dead-letters/replay {ids} | {filter}); the answer says how many
// went and which were skipped and why.
import { post } from '../api.js';
import { t } from '../i18n.js';
import { listPage } from '../listpage.js';
import { h, mono, text, timeCell } from '../dom.js';
import { can, ROLES_REPLAY } from '../roles.js';

function replayResult(d) {
  const skipped = Array.isArray(d.skipped) ? d.skipped : [];
  return h('span', t('dl.replayed', { n: d.replayed ?? 0, skipped: skipped.length }),
    skipped.length ? h('ul.skip-list', skipped.slice(0, 20).map((s) =>
      h('li', h('span.mono', `#${s.dl_id}`), ' ', s.reason || ''))) : null);
}

function payloadView(r) {
  let shown = r.payload ?? '';
  try {
    shown = JSON.stringify(JSON.parse(shown), null, 2);
  } catch (e) {
    /* not JSON: shown as received */
  }
  return h('div.payload', h('div.payload-meta', h('span', t('col.reason'), ': '), h('strong', r.reason || '')),
    h('pre.mono', shown));
}

export function render(ctx) {
  const mayReplay = can(ctx.user, ROLES_REPLAY);
  const run = async (p) => replayResult((await post('/dead-letters/replay', p)).data);
  listPage(ctx, {
    title: 'page.dead_letters',
    endpoint: '/dead-letters',
    test: 'dead-letters',
    live: 'deadletters',
    filters: [
      { name: 'topic', type: 'text', mono: true },
      { name: 'type', type: 'text', mono: true },
      { name: 'source', type: 'text', mono: true },
      { name: 'reason', type: 'text', size: 18, placeholder: 'f.reason_ph' },
      { name: 'replayed', type: 'bool', prefix: 'bool.replayed' },
      { name: 'from', type: 'date' },
      { name: 'to', type: 'date' },
    ],
    rowKey: (r) => r.dl_id,
    selectable: mayReplay ? () => true : undefined,
    bulk: mayReplay ? [
      { label: 'dl.replay_selected', test: 'replay-selected', run, confirm: 'dl.confirm_selected' },
      { label: 'dl.replay_filter', kind: 'filter', test: 'replay-filter', run, confirm: 'dl.confirm_filter' },
    ] : [],
    columns: [
      { label: 'col.dl_id', cell: (r) => mono(r.dl_id) },
      { label: 'col.topic', cell: (r) => mono(r.topic) },
      { label: 'col.position', cell: (r) => mono(`${r.partition}:${r.offset}`) },
      { label: 'col.event_type', cell: (r) => mono(r.event_type) },
      { label: 'col.event_source', cell: (r) => mono(r.event_source) },
      { label: 'col.event_id', cell: (r) => h('span.mono.clip', { title: r.event_id || '' }, r.event_id || '—') },
      { label: 'col.reason', cls: 'reason', cell: (r) => h('span.clip2', { title: r.reason || '' }, text(r.reason)) },
      { label: 'col.received_at', cell: (r) => timeCell(r.received_at) },
      { label: 'col.replayed_at', cell: (r) => timeCell(r.replayed_at) },
    ],
    expand: payloadView,
    expandLabel: 'common.view',
  });
}
