// live.js — the live-updates stream (GET /api/v1/live, Server-Sent Events). One EventSource
// for the whole app while someone is logged in; pages subscribe to the parts they show
// (desk, alerts, breaches, tasks, deadletters) and re-fetch them when told. Each event
// carries the part's version: the stream opens with the current versions (a baseline, no
// change), and after a reconnect a version that moved meanwhile is reported as a change.

export const LIVE_EVENTS = ['desk', 'alerts', 'breaches', 'tasks', 'deadletters'];

export function createLive(onStatus) {
  let es = null;
  const versions = new Map(); // event → last version seen
  const subs = new Map(); // event → Set of callbacks

  function emit(name, data) {
    for (const fn of subs.get(name) || []) {
      try {
        fn(data);
      } catch (e) {
        console.error(e);
      }
    }
  }

  function start() {
    if (es) return;
    es = new EventSource('/api/v1/live', { withCredentials: true });
    onStatus('connecting');
    es.addEventListener('open', () => onStatus('open'));
    es.addEventListener('error', () => {
      onStatus(es && es.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
    });
    for (const name of LIVE_EVENTS) {
      es.addEventListener(name, (ev) => {
        let data = {};
        try {
          data = JSON.parse(ev.data);
        } catch (e) {
          data = {};
        }
        const before = versions.get(name);
        versions.set(name, data.version);
        if (before === undefined || before === data.version) return; // baseline, or no change
        window.__liveEvents = (window.__liveEvents || 0) + 1; // for the browser test
        window.__liveCounts = { ...(window.__liveCounts || {}), [name]: ((window.__liveCounts || {})[name] || 0) + 1 };
        emit(name, data);
      });
    }
  }

  function stop() {
    if (es) es.close();
    es = null;
    versions.clear();
    onStatus('off');
  }

  // on('desk', fn) → a function that unsubscribes
  function on(name, fn) {
    if (!subs.has(name)) subs.set(name, new Set());
    subs.get(name).add(fn);
    return () => subs.get(name).delete(fn);
  }

  return { start, stop, on };
}
