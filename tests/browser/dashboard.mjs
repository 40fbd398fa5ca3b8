// dashboard.mjs — the staff dashboard in a real browser (issue 6): playwright-core driving
// Debian's /usr/bin/chromium (never a downloaded browser), against a running
// orderflow-dashboard seeded by tests/integration/test_dashboard_browser.py, which starts it
// and passes, in the environment:
//   DASH_URL       the dashboard, e.g. http://127.0.0.1:41234
//   DASH_USERS     {"assistant": name, "staff": name, "supervisor": name}
//   DASH_PASSWORD  their password
//   DASH_SEED      the seeded ids and the expected note texts (from common/note_templates.json)
//   CONTROL_URL    the orchestrator: POST /suspend {order_id, attempt_id} (R4, see there)
//   ARTIFACTS      where the screenshots go (tests/artifacts/browser)
//   CHROMIUM       the browser (default /usr/bin/chromium)
// Exits non-zero on the first failed check, with a screenshot of the page at that moment.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, request as pwRequest } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const need = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run through tests/integration/test_dashboard_browser.py)`);
  return v;
};
const URL = need('DASH_URL').replace(/\/$/, '');
const USERS = JSON.parse(need('DASH_USERS'));
const PASSWORD = need('DASH_PASSWORD');
const SEED = JSON.parse(need('DASH_SEED'));
const CONTROL = need('CONTROL_URL');
const ARTIFACTS = process.env.ARTIFACTS || path.join(REPO, 'tests', 'artifacts', 'browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WWW = path.join(REPO, 'services', 'dashboard', 'www');
const LIVE_WITHIN_MS = 5000; // a suspension shows on the desk page within this, no reload

fs.mkdirSync(ARTIFACTS, { recursive: true });
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s]`, ...a);

// ---------------------------------------------------------------------------------------
// the catalogues: every language has every key (a missing one would show as its key)
// ---------------------------------------------------------------------------------------
const cats = Object.fromEntries(['zh-Hant', 'zh-Hans', 'en'].map((l) =>
  [l, JSON.parse(fs.readFileSync(path.join(WWW, 'i18n', `${l}.json`), 'utf8'))]));
{
  const keys = (l) => Object.keys(cats[l]).sort().join('\n');
  assert.equal(keys('zh-Hans'), keys('zh-Hant'), 'zh-Hans.json and zh-Hant.json have different keys');
  assert.equal(keys('en'), keys('zh-Hant'), 'en.json and zh-Hant.json have different keys');
  for (const [l, c] of Object.entries(cats)) {
    for (const [k, v] of Object.entries(c)) assert.ok(typeof v === 'string' && v.length, `${l}: ${k} is empty`);
  }
}
const T = cats['zh-Hant'];

// ---------------------------------------------------------------------------------------
// browser
// ---------------------------------------------------------------------------------------
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 800 },
  timezoneId: SEED.shop_tz || 'Asia/Shanghai',
  locale: 'zh-TW',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
context.setDefaultTimeout(15000);
const page = context.pages()[0] || await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
page.on('console', (m) => {
  // failed API calls are logged by the browser as "Failed to load resource": expected ones
  // (401 before login, 404 of an empty queue...) are checked by the steps themselves
  if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
});

let current = 'start';
async function step(name, fn) {
  current = name;
  log(`▶ ${name}`);
  try {
    await fn();
  } catch (e) {
    try {
      await page.screenshot({ path: path.join(ARTIFACTS, `FAILED-${name.replace(/[^\w-]+/g, '_')}.png`) });
    } catch (e2) { /* the page may be gone */ }
    throw e;
  }
}

let shots = 0;
async function shot(name) {
  shots += 1;
  const file = path.join(ARTIFACTS, `${String(shots).padStart(2, '0')}-${name}.png`);
  await page.waitForTimeout(150); // fonts and the last paint
  // the page fits 1280×800 without a horizontal scroll bar (wide tables scroll inside)
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 1280, `${name}: the page is ${width}px wide at 1280×800`);
  const missing = await page.evaluate(() => [...(window.__i18nMissing || [])]);
  assert.deepEqual(missing, [], `${name}: strings missing from the catalogue`);
  await page.screenshot({ path: file });
  log(`  screenshot ${path.relative(REPO, file)}`);
}

// Polls fn() until it returns something truthy; fails with what was awaited.
async function until(what, fn, timeout = 15000, interval = 100) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
    } catch (e) {
      last = e.message;
    }
    if (last && !(typeof last === 'string' && /^(Error|locator)/.test(last))) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await page.waitForTimeout(interval);
  }
}

const texts = (sel) => page.locator(sel).allTextContents();
const go = async (hash) => {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((h) => location.hash === h, hash);
};

async function login(name) {
  await page.goto(`${URL}/#/login`);
  await page.locator('[data-test=login-form]').waitFor();
  await page.fill('[data-test=login-name]', name);
  await page.fill('[data-test=login-password]', PASSWORD);
  await page.click('[data-test=login-submit]');
  await page.locator('[data-test=user] .who-name').waitFor();
  assert.equal(await page.locator('[data-test=user] .who-name').textContent(), name);
}

async function logout() {
  await page.click('[data-test=logout]');
  await page.locator('[data-test=login-form]').waitFor();
}

const apiStatus = (p) => page.evaluate((u) => fetch(u, { cache: 'no-store' }).then((r) => r.status), p);

// Rows of a list by their data-key, waiting until `key` is among them.
async function rowOf(tableTest, key) {
  const row = page.locator(`[data-test=${tableTest}] tbody tr[data-key="${key}"]`);
  await row.first().waitFor();
  return row.first();
}

async function search(fields) {
  for (const [name, value] of Object.entries(fields)) {
    const el = page.locator(`form.filters [name="${name}"]`);
    if ((await el.evaluate((e) => e.tagName)) === 'SELECT') await el.selectOption(value);
    else await el.fill(value);
  }
  await page.click('form.filters [data-test=search]');
}

// The shop's day now (the {date} of a note the dashboard makes now).
const shopDay = (ms) => new Intl.DateTimeFormat('en-CA', { timeZone: SEED.shop_tz, year: 'numeric',
  month: '2-digit', day: '2-digit' }).format(new Date(ms));

const U = USERS;
const E = SEED.expect;
const cancel = SEED.cancel_order;

try {
  // -------------------------------------------------------------------------------------
  await step('login page, wrong password refused', async () => {
    await page.goto(`${URL}/`);
    await page.waitForFunction(() => location.hash.startsWith('#/login'));
    await page.locator('[data-test=login-form]').waitFor();
    assert.equal(await page.locator('.login-card h1').textContent(), T['login.title']);
    await shot('login');
    await page.fill('[data-test=login-name]', U.assistant);
    await page.fill('[data-test=login-password]', 'not the password');
    await page.click('[data-test=login-submit]');
    const err = page.locator('.login-card .msg-error');
    await err.waitFor();
    const msg = await err.textContent();
    assert.ok(msg.includes(T['login.failed']) && msg.includes('name or password is wrong'), msg);
    assert.equal(await apiStatus('/api/v1/me'), 401);
  });

  // -------------------------------------------------------------------------------------
  await step('assistant logs in: name, role, navigation by role', async () => {
    await login(U.assistant);
    assert.equal(await page.locator('[data-test=role]').textContent(), T['role.assistant']);
    await page.waitForFunction(() => location.hash.startsWith('#/orders'));
    const nav = await page.locator('.sidenav [data-nav]').evaluateAll((els) => els.map((e) => e.dataset.nav));
    assert.ok(nav.includes('/orders') && nav.includes('/tasks'), nav.join());
    assert.ok(!nav.includes('/dead-letters') && !nav.includes('/audit'),
      `an assistant sees supervisor pages: ${nav.join()}`);
    assert.equal(await page.locator('[data-test=live-status]').getAttribute('data-state') !== null, true);
    // a page of another role, typed in by hand: the page says so, and the server refuses
    await go('#/dead-letters');
    await until('the no-access notice', async () =>
      (await page.locator('#content .msg-warn').textContent()) === T['err.no_access']);
    assert.equal(await apiStatus('/api/v1/dead-letters'), 403);
    await go('#/orders');
  });

  // -------------------------------------------------------------------------------------
  await step('find the order by id and read its notes (A7, A15: the catalogue text)', async () => {
    await search({ order_id: cancel });
    const row = await rowOf('orders', cancel);
    assert.equal(await page.locator('[data-test=orders] tbody tr').count(), 1);
    assert.ok((await row.textContent()).includes(T['state.order.printed']));
    await shot('orders-search');
    await row.locator(`a[data-order="${cancel}"]`).click();
    await page.waitForFunction((o) => location.hash === `#/orders/${encodeURIComponent(o)}`, cancel);
    await until('the two notes', async () => (await texts('[data-test=note-text]')).length === 2);
    assert.deepEqual(await texts('[data-test=note-text]'), E.notes);
    assert.deepEqual(await texts('[data-test=note-author]'), ['小美', '阿傑']);
    assert.equal(await page.locator('[data-test=order-id]').textContent(), cancel);
    for (const k of ['col.ship_by', 'col.refund_from', 'col.paid_at', 'col.printed_at', 'col.closed']) {
      assert.ok((await page.locator('[data-test=order-facts]').textContent()).includes(T[k]), k);
    }
    assert.ok((await page.locator('[data-test=ship-by]').textContent()).match(/\d{4}-\d\d-\d\d \d\d:\d\d/),
      'ship_by (T1) is shown');
    const tasks = page.locator('[data-test=order-tasks] tbody tr');
    assert.ok((await tasks.first().textContent()).includes(T['kind.task.cancel_waybill']));
    await shot('order');
  });

  // -------------------------------------------------------------------------------------
  await step('switch language: English and Simplified renderings, remembered', async () => {
    await page.selectOption('[data-test=lang]', 'en');
    await until('English notes', async () =>
      JSON.stringify(await texts('[data-test=note-text]')) === JSON.stringify(E.notes_en));
    assert.equal(await page.locator('.sidenav [data-nav="/orders"]').textContent(), cats.en['nav.orders']);
    assert.equal(await page.locator('[data-test=role]').textContent(), cats.en['role.assistant']);
    await shot('order-en');
    await page.reload();
    await until('English after a reload', async () =>
      JSON.stringify(await texts('[data-test=note-text]')) === JSON.stringify(E.notes_en));
    assert.equal(await page.evaluate(() => localStorage.getItem('orderflow.lang')), 'en');
    await page.selectOption('[data-test=lang]', 'zh-Hans');
    await until('Simplified notes', async () =>
      JSON.stringify(await texts('[data-test=note-text]')) === JSON.stringify(E.notes_hans));
    assert.equal(await page.locator('.sidenav [data-nav="/tasks"]').textContent(), cats['zh-Hans']['nav.tasks']);
    await shot('order-hans');
    await page.selectOption('[data-test=lang]', 'zh-Hant');
    await until('Traditional notes again', async () =>
      JSON.stringify(await texts('[data-test=note-text]')) === JSON.stringify(E.notes));
  });

  // -------------------------------------------------------------------------------------
  let a16Before;
  await step('the assistant marks the cancel_waybill task 已取消 (A16, A0)', async () => {
    await go('#/tasks');
    const row = page.locator('[data-test=tasks] tbody tr').filter({ has: page.locator(`a[data-order="${cancel}"]`) });
    await row.first().waitFor();
    assert.ok((await row.first().textContent()).includes(T['kind.task.cancel_waybill']));
    assert.ok((await row.first().textContent()).includes(U.assistant));
    // an event-backed task cannot be ticked for bulk completion
    assert.equal(await row.first().locator('td.c-check input').isDisabled(), true);
    await shot('tasks');
    await row.first().locator('[data-test=expand]').click();
    const form = page.locator('[data-test=task-form-cancel_waybill]');
    await form.waitFor();
    assert.equal(await form.locator('select[name=outcome]').inputValue(), 'cancelled');
    assert.equal(await form.locator('select[name=outcome] option[value=cancelled]').textContent(), '已取消');
    assert.equal(await form.locator('select[name=outcome] option[value=not_found]').textContent(), '查無');
    assert.equal(await form.locator('input[name=relister]').inputValue(), '阿強');
    a16Before = Date.now();
    await form.locator('[data-test=task-submit]').click();
    const note = form.locator('[data-test=result-note]');
    await note.first().waitFor({ timeout: 20000 });
    const got = await note.first().textContent();
    const want = [shopDay(a16Before), shopDay(Date.now())].map((d) => E.a16.replace('{date}', d));
    assert.ok(want.includes(got), `the A16 note: ${got} (expected ${want[0]})`);
    await shot('task-done');
  });

  // -------------------------------------------------------------------------------------
  await step('the new note is on the order page, by the assistant', async () => {
    await go(`#/orders/${encodeURIComponent(cancel)}`);
    await until('three notes', async () => (await texts('[data-test=note-text]')).length === 3);
    const notes = await texts('[data-test=note-text]');
    assert.deepEqual(notes.slice(0, 2), E.notes);
    const want = [shopDay(a16Before), shopDay(Date.now())].map((d) => E.a16.replace('{date}', d));
    assert.ok(want.includes(notes[2]), `the A16 note on the order: ${notes[2]} (expected ${want[0]})`);
    assert.deepEqual(await texts('[data-test=note-author]'), ['小美', '阿傑', U.assistant]);
    const codes = await page.locator('[data-test=note]').evaluateAll((els) => els.map((e) => e.dataset.code));
    assert.deepEqual(codes, ['A7', 'A15', 'A16']);
    const taskText = await page.locator('[data-test=order-tasks]').textContent();
    assert.ok(taskText.includes(T['kind.task.relist']) && taskText.includes(T['state.task.done']), taskText);
    await shot('order-after-task');
    await page.selectOption('[data-test=lang]', 'en');
    await until('A16 in English', async () => (await texts('[data-test=note-text]'))[2] ===
      E.a16_en.replace('{date}', notes[2].slice(-10)));
    await page.selectOption('[data-test=lang]', 'zh-Hant');
    await until('A16 in Chinese', async () => (await texts('[data-test=note-text]'))[2] === notes[2]);
  });

  await step('the assistant logs out', async () => {
    await logout();
    assert.equal(await apiStatus('/api/v1/me'), 401);
  });

  // -------------------------------------------------------------------------------------
  await step('staff registers a refund from its task (F3); personal data masked for staff', async () => {
    await login(U.staff);
    await go(`#/tasks?order_id=${encodeURIComponent(SEED.refund_order)}`);
    const row = page.locator('[data-test=tasks] tbody tr[data-key]')
      .filter({ hasText: T['kind.task.register_refund'] });
    await row.first().waitFor();
    assert.ok((await row.first().textContent()).includes('registrar'), 'the registrar queue');
    await row.first().locator('[data-test=expand]').click();
    const form = page.locator('[data-test=task-form-register_refund]');
    await form.waitFor();
    assert.equal(await form.locator('select[name=channel]').inputValue(), 'alipay');
    // the account on the task is masked for staff: not prefilled (the server uses its own)
    const acc = form.locator('input[name=account]');
    assert.equal(await acc.inputValue(), '');
    assert.ok((await acc.getAttribute('placeholder')).startsWith('*') &&
      (await acc.getAttribute('placeholder')).includes(SEED.refund_account.slice(-4)));
    assert.equal(await form.locator('input[name=amount]').inputValue(), '5.00');
    await form.locator('input[name=real_name]').fill('王小明');
    await form.locator('input[name=reason]').fill('郵費多收退回');
    const before = Date.now();
    await form.locator('[data-test=task-submit]').click();
    const note = form.locator('[data-test=result-note]');
    await note.first().waitFor({ timeout: 20000 });
    const want = [shopDay(before), shopDay(Date.now())].map((d) => E.f3.replace('{date}', d));
    assert.ok(want.includes(await note.first().textContent()), `F3 note: ${await note.first().textContent()}`);
    await shot('task-refund-registered');
    await go('#/refunds');
    await search({ order_id: SEED.refund_order });
    const reg = page.locator('[data-test=refunds] tbody tr[data-key]').first();
    await reg.waitFor();
    const text = await reg.textContent();
    assert.ok(!text.includes(SEED.refund_account) && !text.includes('王小明'),
      `a staff member sees the account and real name unmasked: ${text}`);
    assert.ok(text.includes('王**') && text.includes(SEED.refund_account.slice(-4)), text);
    await shot('refunds-staff');
  });

  // -------------------------------------------------------------------------------------
  const [rc0, rc1, rc2] = SEED.recharges;
  const [acc0, , acc2] = SEED.recharge_accounts;
  await step('staff at the desk: queue, lock, the lease counts down (R1)', async () => {
    const nav = await page.locator('.sidenav [data-nav]').evaluateAll((els) => els.map((e) => e.dataset.nav));
    assert.ok(nav.includes('/desk') && !nav.includes('/dead-letters'), nav.join());
    await page.click('.sidenav [data-nav="/desk"]');
    await rowOf('desk-queue', rc0);
    const q = Number(await page.locator('[data-test=queue-length] .stat-num').textContent());
    assert.ok(q >= 3, `queue length ${q}`);
    assert.equal(await page.locator('[data-test=queue-head] .stat-num').textContent(), rc0);
    await until('live stream open', async () =>
      (await page.locator('[data-test=live-status]').getAttribute('data-state')) === 'open');
    await shot('desk');
    await page.click('[data-test=desk-lock]');
    const lease = page.locator(`[data-test=lease][data-order="${rc0}"]`);
    await lease.waitFor();
    assert.equal(await lease.locator('[data-test=lease-account]').textContent(), acc0,
      'the lease holder sees the account to top up');
    const cd = lease.locator('[data-test=countdown]');
    const rem = async () => Number(await cd.getAttribute('data-remaining-ms'));
    await until('a countdown value', async () => !Number.isNaN(await rem()) && (await rem()) > 0);
    const r1 = await rem();
    const label1 = await cd.locator('.cd-text').textContent();
    assert.ok(r1 <= SEED.lock_window_s * 1000 + 1500 && r1 > (SEED.lock_window_s - 6) * 1000,
      `the lease shows ${r1} ms left of a ${SEED.lock_window_s} s window`);
    await page.waitForTimeout(2000);
    const r2 = await rem();
    const label2 = await cd.locator('.cd-text').textContent();
    assert.ok(r2 < r1 && r1 - r2 > 1200 && r1 - r2 < 4000, `countdown ${r1} → ${r2} ms in 2 s`);
    assert.notEqual(label1, label2);
    assert.match(label2, /^\d+\.\d 秒$/);
    // the same order is in "locked now", with its countdown too
    const locked = await rowOf('desk-locked', rc0);
    assert.ok((await locked.textContent()).includes(U.staff));
    await shot('desk-lease');
    await lease.locator('[data-test=lease-outcome]').selectOption('success');
    await lease.locator('[data-test=lease-ref]').fill('MANUAL-0001');
    await lease.locator('[data-test=lease-complete]').click();
    await page.locator('[data-test=desk-msgs] .msg-ok').waitFor();
    await lease.waitFor({ state: 'detached' });
    await until(`${rc0} gone from the queue`, async () =>
      (await page.locator(`[data-test=desk-queue] tr[data-key="${rc0}"]`).count()) === 0);
  });

  // -------------------------------------------------------------------------------------
  await step('a suspension shows on the desk live, without reload (R4)', async () => {
    // a pause longer than R2's next-lock gap (1 s in this test) while orders wait: a breach
    await page.waitForTimeout(1600);
    await page.click('[data-test=desk-lock]');
    const lease = page.locator(`[data-test=lease][data-order="${rc1}"]`);
    await lease.waitFor();
    const desk = await page.evaluate(() => fetch('/api/v1/desk', { cache: 'no-store' }).then((r) => r.json()));
    const mine = desk.mine.find((m) => m.order_id === rc1);
    assert.ok(mine && mine.attempt_id, `my lease of ${rc1} in /api/v1/desk: ${JSON.stringify(desk.mine)}`);
    assert.equal(await page.locator(`[data-test=desk-suspended] tr[data-key="${rc1}"]`).count(), 0);
    const boot = await page.evaluate(() => { window.__marker = 'no reload'; return window.__bootId; });
    const fetchesBefore = await page.evaluate(() => window.__deskFetches || 0);
    const deskEventsBefore = await page.evaluate(() => (window.__liveCounts || {}).desk || 0);
    const r = await fetch(`${CONTROL}/suspend`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ order_id: rc1, attempt_id: mine.attempt_id }) });
    const body = await r.json();
    assert.equal(r.status, 200, `control /suspend: ${JSON.stringify(body)}`);
    const row = page.locator(`[data-test=desk-suspended] tr[data-key="${rc1}"]`);
    await row.waitFor({ timeout: LIVE_WITHIN_MS + 5000 });
    const shownAfter = Date.now() - body.suspended_at_ms;
    log(`  suspended ${rc1}: on the page ${shownAfter} ms after PostgreSQL had it`);
    assert.ok(shownAfter <= LIVE_WITHIN_MS, `shown ${shownAfter} ms after the suspension`);
    assert.deepEqual(await page.evaluate(() => [window.__marker, window.__bootId]), ['no reload', boot],
      'the page was reloaded');
    assert.ok((await page.evaluate(() => window.__deskFetches)) > fetchesBefore);
    assert.ok(await page.evaluate(() => (window.__liveCounts || {}).desk || 0) > deskEventsBefore,
      'no `desk` event arrived on the live stream');
    await lease.waitFor({ state: 'detached' });
    assert.ok((await row.textContent()).includes(T['outcome.recharge.unknown']));
    assert.ok(Number(await page.locator('[data-test=suspended-count] .stat-num').textContent()) >= 1);
    await shot('desk-suspended');
    await row.locator('[data-test=resolve-outcome]').selectOption('success');
    await row.locator('[data-test=resolve-ref]').fill('MANUAL-0002');
    await row.locator('[data-test=resolve]').click();
    await page.locator('[data-test=desk-msgs] .msg-ok').waitFor();
    await row.waitFor({ state: 'detached' });
  });

  // -------------------------------------------------------------------------------------
  await step('release a lease, lock it again, complete it as failed', async () => {
    await page.click('[data-test=desk-lock]');
    let lease = page.locator(`[data-test=lease][data-order="${rc2}"]`);
    await lease.waitFor();
    assert.equal(await lease.locator('[data-test=lease-account]').textContent(), acc2);
    await lease.locator('[data-test=lease-release]').click();
    await lease.waitFor({ state: 'detached' });
    await rowOf('desk-queue', rc2);
    await page.click('[data-test=desk-lock]');
    lease = page.locator(`[data-test=lease][data-order="${rc2}"]`);
    await lease.waitFor();
    await lease.locator('[data-test=lease-outcome]').selectOption('failed');
    await lease.locator('[data-test=lease-complete]').click();
    await lease.waitFor({ state: 'detached' });
    await go('#/recharges');
    await search({ order_id: rc2 });
    const row = await rowOf('recharges', rc2);
    assert.ok((await row.textContent()).includes(T['state.recharge.failed']));
    await logout();
  });

  // -------------------------------------------------------------------------------------
  await step('the supervisor sees every page', async () => {
    await login(U.supervisor);
    const nav = await page.locator('.sidenav [data-nav]').evaluateAll((els) => els.map((e) => e.dataset.nav));
    for (const p of ['/orders', '/tasks', '/desk', '/recharges', '/recharge-daily', '/breaches', '/alerts',
      '/dead-letters', '/remittances', '/remittance-days', '/refunds', '/ledger', '/audit']) {
      assert.ok(nav.includes(p), `no ${p} in the supervisor's navigation`);
    }
    await go('#/orders');
    await page.locator('[data-test=orders] tbody tr').first().waitFor();
    await search({ shop_id: SEED.shop });
    await until('the shop\'s orders', async () =>
      (await page.locator('[data-test=orders] tbody tr[data-key]').count()) === 1 + SEED.other_orders.length);
    await shot('orders');
    await search({ state: 'shipped' });
    await until('one shipped order', async () =>
      (await page.locator('[data-test=orders] tbody tr[data-key]').count()) === 1);
    // a bad filter: the API's 400 is shown with the server's words
    await go('#/orders?from=yesterday');
    const bad = page.locator('#content .msg-error');
    await bad.waitFor();
    assert.ok((await bad.textContent()).includes(T['err.400']) && (await bad.textContent()).includes('from'),
      await bad.textContent());
    // keyset pages: the shop's orders two at a time, forward with next_cursor and back
    await go(`#/orders?shop_id=${encodeURIComponent(SEED.shop)}&limit=2`);
    const keys = () => page.locator('[data-test=orders] tbody tr[data-key]')
      .evaluateAll((els) => els.map((e) => e.dataset.key));
    await until('page 1', async () => (await keys()).length === 2);
    const seen = [...await keys()];
    for (let n = 2; n <= 3; n++) {
      const before = JSON.stringify(await keys());
      await page.click('[data-test=next]');
      await until(`page ${n}`, async () => JSON.stringify(await keys()) !== before);
      seen.push(...await keys());
    }
    assert.equal(new Set(seen).size, 1 + SEED.other_orders.length, `pages: ${seen}`);
    assert.ok(await page.locator('[data-test=next]').isDisabled(), 'a fourth page');
    await page.click('[data-test=prev]');
    await until('back to page 2', async () => JSON.stringify(await keys()) === JSON.stringify(seen.slice(2, 4)));
    await go('#/tasks?mine=false&status=all');
    await page.locator('[data-test=tasks] tbody tr').first().waitFor();
    await search({ order_id: cancel });
    await until('the order\'s tasks', async () =>
      (await page.locator('[data-test=tasks] tbody tr[data-key]').count()) >= 3);
    // the tasks no event closes (relist, cancel_done) are ticked and marked done together
    const open = page.locator('[data-test=tasks] tbody tr[data-key]')
      .filter({ has: page.locator('td.c-check input:not([disabled])') });
    assert.equal(await open.count(), 2);
    await page.locator('[data-test=tasks] thead th.c-check input').check();
    assert.match(await page.locator('.sel-count').textContent(), /已選 2 筆/);
    await shot('tasks-all');
    await page.click('[data-test=bulk-done]');
    await page.click('[data-test=confirm-ok]');
    const ok = page.locator('.msgs .msg-ok');
    await ok.waitFor();
    assert.match(await ok.textContent(), /已完成 2 筆，略過 0 筆/);
    await until('no open task left', async () =>
      (await page.locator('[data-test=tasks] tbody tr[data-key] td.c-check input:not([disabled])').count()) === 0);
    await go('#/desk');
    await page.locator('[data-test=queue-length]').waitFor();
    await shot('desk-supervisor');
    await go('#/recharges');
    await search({ order_id: '' });
    await page.locator('[data-test=recharges] tbody tr').first().waitFor();
    await shot('recharges');
    await go('#/recharge-daily');
    await page.locator('[data-test=recharge-daily] tbody tr').first().waitFor();
    await search({ processor: U.staff });
    const daily = await rowOf('recharge-daily', `${shopDay(Date.now())}|${U.staff}`);
    assert.ok((await daily.textContent()).includes(U.staff), 'R6: the staff member\'s day');
    await shot('recharge-daily');
    await go('#/breaches');
    await page.locator('[data-test=breaches] tbody tr').first().waitFor();
    await search({ actor: U.staff });
    const r2 = page.locator('[data-test=breaches] tbody tr[data-key]').first();
    await r2.waitFor();
    assert.ok((await r2.textContent()).includes('R2'), 'R2: the staff member\'s long gap');
    await shot('breaches');
    await go('#/alerts');
    await page.locator('[data-test=alerts] tbody tr').first().waitFor();
    await search({ subject_id: rc1 });
    await until('the R4 alert of the suspension', async () =>
      (await page.locator('[data-test=alerts] tbody tr[data-key]').count()) >= 1 &&
      (await page.locator('[data-test=alerts] tbody').textContent()).includes(rc1));
    await shot('alerts');
  });

  // -------------------------------------------------------------------------------------
  await step('dead letters: filter, select, replay after confirming', async () => {
    await go('#/dead-letters');
    await search({ source: SEED.source });
    const row = page.locator('[data-test=dead-letters] tbody tr[data-key]').first();
    await row.waitFor();
    assert.ok((await row.textContent()).includes(SEED.bad_event));
    await shot('dead-letters');
    await row.locator('td.c-check input').check();
    await page.click('[data-test=replay-selected]');
    await page.locator('dialog.confirm').waitFor();
    await shot('dead-letters-confirm');
    await page.click('[data-test=confirm-ok]');
    const ok = page.locator('.msgs .msg-ok');
    await ok.waitFor();
    assert.match(await ok.textContent(), /已重放 1 筆，略過 0 筆/);
  });

  // -------------------------------------------------------------------------------------
  await step('remittances: aging since the notice, verify (M3, M4)', async () => {
    const [r0, r1] = SEED.remittances;
    await go('#/remittances');
    await search({ staff: U.staff });
    const row0 = await rowOf('remittances', r0);
    const row1 = await rowOf('remittances', r1);
    assert.equal(await row0.locator('[data-test=aging]').textContent(), '2 天 3 小時');
    assert.match(await row1.locator('[data-test=aging]').textContent(), /^4 天 1 小時$/);
    assert.ok(await row1.evaluate((e) => e.classList.contains('row-late')), 'M3: past 3 days is marked');
    await shot('remittances');
    await row0.locator('[data-test=expand]').click();
    const amount = page.locator('[data-test=verify-amount]');
    assert.equal(await amount.inputValue(), '129.00');
    await page.click('[data-test=verify]');
    const ok = page.locator('tr.action-row .msg-ok');
    await ok.waitFor({ timeout: 20000 });
    await shot('remittance-verified');
    await page.click('form.filters [data-test=search]');
    await until('verified', async () => (await (await rowOf('remittances', r0)).textContent())
      .includes(T['state.remit.verified']));
  });

  // -------------------------------------------------------------------------------------
  await step('remittance days: unreviewed listed, rows, CSV, review (M7, M8)', async () => {
    const day = SEED.remit_day;
    await go('#/remittance-days');
    await page.locator('[data-test=unreviewed] .chips, [data-test=unreviewed] p').first().waitFor();
    await until('our day among the unreviewed', async () =>
      (await page.locator(`[data-test=unreviewed] a[href="#/remittance-days/${day}"]`).count()) === 1);
    await shot('remittance-days');
    await page.click(`[data-test=unreviewed] a[href="#/remittance-days/${day}"]`);
    await page.locator('[data-test=remittance-day] tbody tr').first().waitFor();
    const dayText = await page.locator('[data-test=remittance-day]').textContent();
    for (const r of SEED.remittances) assert.ok(dayText.includes(r), `${r} on ${day}`);
    const href = await page.locator('[data-test=csv]').getAttribute('href');
    const csv = await page.evaluate((u) => fetch(u).then(async (r) => ({ status: r.status,
      type: r.headers.get('Content-Type'), disp: r.headers.get('Content-Disposition'), body: await r.text() })), href);
    assert.equal(csv.status, 200, JSON.stringify(csv));
    assert.match(csv.type, /^text\/csv/);
    assert.match(csv.disp || '', new RegExp(`remittance-${day}\\.csv`));
    for (const r of SEED.remittances) assert.ok(csv.body.includes(r), `${r} in the CSV`);
    await shot('remittance-day');
    await page.click('[data-test=review]');
    await page.locator('.msgs .msg-ok').first().waitFor({ timeout: 20000 });
    await until('reviewed by the supervisor', async () =>
      (await page.textContent('#content')).includes(U.supervisor));
    await shot('remittance-day-reviewed');
  });

  // -------------------------------------------------------------------------------------
  await step('refunds (unmasked for a supervisor), ledger, audit log', async () => {
    await go('#/refunds');
    await page.locator('[data-test=refunds] tbody tr').first().waitFor();
    await search({ order_id: SEED.refund_order });
    const reg = page.locator('[data-test=refunds] tbody tr[data-key]').first();
    await reg.waitFor();
    const text = await reg.textContent();
    assert.ok(text.includes(SEED.refund_account) && text.includes('王小明') && text.includes(U.staff), text);
    await search({ order_id: '' });
    await shot('refunds');
    await go('#/ledger');
    await search({ buyer_id: SEED.credit_buyer });
    const entry = page.locator('[data-test=ledger] tbody tr[data-key]').first();
    await entry.waitFor();
    assert.ok((await entry.textContent()).includes('20.00'), await entry.textContent());
    await search({ buyer_id: '' });
    await page.locator('[data-test=ledger] tbody tr[data-key]').first().waitFor();
    await shot('ledger');
    await go('#/audit');
    await search({ actor: U.assistant });
    const row = page.locator('[data-test=audit] tbody tr[data-key]').filter({ hasText: 'task.complete' });
    await row.first().waitFor();
    await search({ actor: U.staff, action: 'recharge.lock' });
    await until('the staff member\'s locks', async () =>
      (await page.locator('[data-test=audit] tbody tr[data-key]').count()) >= 4);
    await search({ actor: '', action: '' });
    await page.locator('[data-test=audit] tbody tr[data-key]').first().waitFor();
    await shot('audit');
  });

  // -------------------------------------------------------------------------------------
  await step('logged out, the API refuses the old session', async () => {
    const cookies = await context.cookies(URL);
    const session = cookies.find((c) => c.name === 'of_session');
    assert.ok(session && session.httpOnly, 'the session cookie is HttpOnly');
    const csrf = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.json()).then((j) => j.csrf_token));
    await logout();
    assert.equal(await apiStatus('/api/v1/me'), 401);
    assert.equal(await apiStatus('/api/v1/orders'), 401);
    const old = await pwRequest.newContext({ baseURL: URL,
      extraHTTPHeaders: { Cookie: `of_session=${session.value}`, 'X-CSRF-Token': csrf } });
    try {
      const me = await old.get('/api/v1/me');
      assert.equal(me.status(), 401, 'the old session cookie still works after logout');
      const body = await me.json();
      assert.equal(body.error.status, 401);
      assert.equal((await old.post('/api/v1/desk/lock', { data: {} })).status(), 401);
    } finally {
      await old.dispose();
    }
    await page.evaluate(() => { location.hash = '#/orders'; });
    await page.waitForFunction(() => location.hash.startsWith('#/login'));
    await page.locator('[data-test=login-form]').waitFor();
    await shot('logged-out');
  });

  // -------------------------------------------------------------------------------------
  await step('a session that ends on the server sends the page to login, then back', async () => {
    await login(U.supervisor);
    await context.clearCookies(); // as if the session had expired
    await page.click('.sidenav [data-nav="/alerts"]');
    await page.waitForFunction(() => location.hash.startsWith('#/login'));
    assert.match(await page.evaluate(() => location.hash), /next=%2Falerts/);
    await page.fill('[data-test=login-name]', U.supervisor);
    await page.fill('[data-test=login-password]', PASSWORD);
    await page.click('[data-test=login-submit]');
    await page.waitForFunction(() => location.hash === '#/alerts');
    await page.locator('[data-test=alerts]').waitFor();
    await logout();
  });

  assert.deepEqual(pageErrors, [], 'errors in the page');
  log(`✔ all steps passed; ${shots} screenshots in ${ARTIFACTS}`);
} catch (e) {
  console.error(`✘ step "${current}" failed:`, e && e.stack ? e.stack : e);
  if (pageErrors.length) console.error('errors in the page:', pageErrors);
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
