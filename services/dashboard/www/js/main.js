// main.js — the dashboard's shell: boot (language, who is logged in), the hash router
// (#/orders?state=paid), the side navigation filtered by role, the top bar (user, role,
// language, live status, logout) and the page lifecycle (each page's timers and
// subscriptions are cleaned up when the user leaves it).
import { get, post, setSession, session, onUnauthorized } from './api.js';
import { t, tv, loadLang, currentLang, storedLang, LANGS } from './i18n.js';
import { h, clear, errorMessage, message } from './dom.js';
import { createLive } from './live.js';
import { ROLES_SUP_OPS, ROLES_DESK } from './roles.js';

import * as loginPage from './pages/login.js';
import * as ordersPage from './pages/orders.js';
import * as orderPage from './pages/order.js';
import * as tasksPage from './pages/tasks.js';
import * as deskPage from './pages/desk.js';
import * as deadLettersPage from './pages/deadletters.js';
import * as remittancesPage from './pages/remittances.js';
import * as remitDaysPage from './pages/remitdays.js';
import * as lists from './pages/lists.js';

window.__bootId = `${Date.now()}-${Math.random().toString(36).slice(2)}`;

// The navigation: groups of pages; roles = who sees the page (the server checks anyway).
const NAV = [
  { group: 'nav.g.work', items: [
    { path: '/orders', key: 'nav.orders' },
    { path: '/tasks', key: 'nav.tasks' },
  ] },
  { group: 'nav.g.recharge', items: [
    { path: '/desk', key: 'nav.desk', roles: ROLES_DESK },
    { path: '/recharges', key: 'nav.recharges' },
    { path: '/recharge-daily', key: 'nav.recharge_daily' },
  ] },
  { group: 'nav.g.watch', items: [
    { path: '/breaches', key: 'nav.breaches' },
    { path: '/alerts', key: 'nav.alerts' },
    { path: '/dead-letters', key: 'nav.dead_letters', roles: ROLES_SUP_OPS },
  ] },
  { group: 'nav.g.remit', items: [
    { path: '/remittances', key: 'nav.remittances' },
    { path: '/remittance-days', key: 'nav.remittance_days' },
  ] },
  { group: 'nav.g.money', items: [
    { path: '/refunds', key: 'nav.refunds' },
    { path: '/ledger', key: 'nav.ledger' },
  ] },
  { group: 'nav.g.admin', items: [
    { path: '/audit', key: 'nav.audit', roles: ROLES_SUP_OPS },
  ] },
];

// Route patterns → page renderers.
const ROUTES = [
  { pattern: '/login', page: loginPage.render, public: true },
  { pattern: '/orders', page: ordersPage.render, nav: '/orders' },
  { pattern: '/orders/:id', page: orderPage.render, nav: '/orders' },
  { pattern: '/tasks', page: tasksPage.render, nav: '/tasks' },
  { pattern: '/desk', page: deskPage.render, nav: '/desk' },
  { pattern: '/recharges', page: lists.recharges, nav: '/recharges' },
  { pattern: '/recharge-daily', page: lists.rechargeDaily, nav: '/recharge-daily' },
  { pattern: '/breaches', page: lists.breaches, nav: '/breaches' },
  { pattern: '/alerts', page: lists.alerts, nav: '/alerts' },
  { pattern: '/dead-letters', page: deadLettersPage.render, nav: '/dead-letters' },
  { pattern: '/remittances', page: remittancesPage.render, nav: '/remittances' },
  { pattern: '/remittance-days', page: remitDaysPage.renderDays, nav: '/remittance-days' },
  { pattern: '/remittance-days/:day', page: remitDaysPage.renderDay, nav: '/remittance-days' },
  { pattern: '/refunds', page: lists.refunds, nav: '/refunds' },
  { pattern: '/ledger', page: lists.ledger, nav: '/ledger' },
  { pattern: '/audit', page: lists.audit, nav: '/audit' },
];

const app = document.getElementById('app');
let cleanups = [];
let liveStatus = 'off';
const live = createLive((s) => {
  liveStatus = s;
  const dot = document.getElementById('live-status');
  if (dot) {
    dot.dataset.state = s;
    dot.textContent = t(`live.${s}`);
  }
});

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/orders';
  const i = raw.indexOf('?');
  const path = i < 0 ? raw : raw.slice(0, i);
  const query = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
  return { path: path || '/orders', query };
}

function match(pattern, path) {
  const ps = pattern.split('/');
  const xs = path.split('/');
  if (ps.length !== xs.length) return null;
  const params = {};
  for (let i = 0; i < ps.length; i++) {
    if (ps[i].startsWith(':')) {
      if (!xs[i]) return null;
      try {
        params[ps[i].slice(1)] = decodeURIComponent(xs[i]);
      } catch (e) {
        return null;
      }
    } else if (ps[i] !== xs[i]) return null;
  }
  return params;
}

export function hrefFor(path, query) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) p.set(k, v);
  const s = p.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

function navigate(path, query, opts = {}) {
  const target = hrefFor(path, query);
  if (location.hash === target) {
    if (opts.force) route();
    return;
  }
  if (opts.replace) {
    history.replaceState(null, '', target);
    route();
  } else location.hash = target;
}

function canSee(item, user) {
  return !item.roles || (user && item.roles.includes(user.role));
}

function runCleanups() {
  for (const fn of cleanups) {
    try {
      fn();
    } catch (e) {
      console.error(e);
    }
  }
  cleanups = [];
}

function shell(user, activeNav) {
  const langSel = h('select.lang', { 'aria-label': t('app.language'), 'data-test': 'lang',
    onchange: async (e) => {
      await loadLang(e.target.value);
      route();
    } }, LANGS.map((l) => h('option', { value: l, selected: l === currentLang() }, t(`lang.${l}`))));
  const top = h('header.topbar',
    h('a.brand', { href: '#/orders' }, h('span.brand-mark', 'OF'), h('span.brand-name', t('app.name'))),
    h('div.top-right',
      h('span.live', { id: 'live-status', dataset: { state: liveStatus }, 'data-test': 'live-status' },
        t(`live.${liveStatus}`)),
      h('span.who', { 'data-test': 'user' },
        h('span.who-name', user.name),
        h(`span.badge.b-role.role-${user.role}`, { 'data-test': 'role' }, tv('role', user.role))),
      langSel,
      h('button.btn.btn-small', { type: 'button', 'data-test': 'logout', onclick: logout }, t('nav.logout'))));
  const nav = h('nav.sidenav', { 'aria-label': t('app.nav') },
    NAV.map((g) => {
      const items = g.items.filter((it) => canSee(it, user));
      if (!items.length) return null;
      return h('div.nav-group',
        h('div.nav-title', t(g.group)),
        items.map((it) => h('a.nav-link', { href: `#${it.path}`, 'data-nav': it.path,
          class: it.path === activeNav ? 'active' : null }, t(it.key))));
    }));
  const main = h('main.content', { id: 'content' });
  return { top, nav, main };
}

async function logout() {
  try {
    await post('/logout');
  } catch (e) {
    /* the session may be gone already: the user is logged out either way */
  }
  setSession(null, null);
  live.stop();
  navigate('/login', {});
}

function route() {
  runCleanups();
  const { path, query } = parseHash();
  const user = session().user;
  let found = null;
  let params = null;
  for (const r of ROUTES) {
    params = match(r.pattern, path);
    if (params) {
      found = r;
      break;
    }
  }
  if (!user && (!found || !found.public)) {
    navigate('/login', path && path !== '/login' ? { next: path + (query.toString() ? `?${query}` : '') } : {},
      { replace: true });
    return;
  }
  if (user && found && found.public) {
    navigate('/orders', {}, { replace: true });
    return;
  }
  clear(app);
  const ctx = {
    path, query, params: params || {}, user, live, navigate, hrefFor,
    onCleanup: (fn) => cleanups.push(fn),
    el: null,
  };
  if (found && found.public) {
    ctx.el = h('div.login-wrap');
    app.appendChild(ctx.el);
    ctx.onLogin = onLogin;
    found.page(ctx);
    return;
  }
  const { top, nav, main } = shell(user, found ? found.nav : null);
  app.append(top, h('div.body', nav, main));
  ctx.el = main;
  if (!found) {
    main.appendChild(message('warn', t('err.no_page', { path })));
    return;
  }
  const navItem = NAV.flatMap((g) => g.items).find((it) => it.path === found.nav);
  if (navItem && !canSee(navItem, user)) {
    main.appendChild(message('warn', t('err.no_access')));
    return;
  }
  try {
    const p = found.page(ctx);
    if (p && typeof p.catch === 'function') p.catch((err) => main.appendChild(errorMessage(err)));
  } catch (err) {
    console.error(err);
    main.appendChild(errorMessage(err));
  }
}

function onLogin(user, csrf, next) {
  setSession(user, csrf);
  live.start();
  const target = next && next.startsWith('/') && !next.startsWith('/login') ? next : '/orders';
  location.hash = `#${target}`;
}

onUnauthorized(() => {
  live.stop();
  const { path, query } = parseHash();
  if (path !== '/login') navigate('/login', { next: path + (query.toString() ? `?${query}` : '') }, { replace: true });
});

async function boot() {
  try {
    await loadLang(storedLang());
  } catch (e) {
    app.textContent = String(e);
    return;
  }
  try {
    const { data } = await get('/me', null, { noRedirect: true });
    setSession(data.user, data.csrf_token);
    live.start();
  } catch (err) {
    if (err.status !== 401) {
      clear(app).appendChild(errorMessage(err));
    }
  }
  window.addEventListener('hashchange', route);
  route();
  window.__ready = true;
}

boot();
