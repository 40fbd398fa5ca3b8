// i18n.js — the dashboard's languages: Traditional Chinese (default), Simplified Chinese and
// English, one catalogue each in /i18n/<lang>.json. Every visible string goes through t();
// the choice is remembered in localStorage. A key missing from the catalogue is shown as the
// key itself and recorded in window.__i18nMissing (the browser test asserts it stays empty).

export const LANGS = ['zh-Hant', 'zh-Hans', 'en'];
const STORE_KEY = 'orderflow.lang';

let lang = 'zh-Hant';
let cat = {};
const missing = new Set();
window.__i18nMissing = missing;

export function currentLang() {
  return lang;
}

export async function loadLang(want) {
  const l = LANGS.includes(want) ? want : storedLang();
  const r = await fetch(`/i18n/${l}.json`, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`catalogue ${l}: HTTP ${r.status}`);
  cat = await r.json();
  lang = l;
  try {
    localStorage.setItem(STORE_KEY, l);
  } catch (e) {
    /* private mode: not remembered */
  }
  document.documentElement.lang = l;
  document.title = t('app.title');
}

export function storedLang() {
  let l = null;
  try {
    l = localStorage.getItem(STORE_KEY);
  } catch (e) {
    l = null;
  }
  return LANGS.includes(l) ? l : 'zh-Hant';
}

// t('key', {name: value}) — the catalogue's text with {name} replaced.
export function t(key, vars) {
  let s = cat[key];
  if (typeof s !== 'string') {
    missing.add(key);
    s = key;
  }
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

export function has(key) {
  return typeof cat[key] === 'string';
}

// An enum value (a state, a kind, a role...) through the catalogue: prefix.value, or the
// value itself when the catalogue has no word for it (values the server adds later).
export function tv(prefix, value) {
  if (value === null || value === undefined || value === '') return '';
  const k = `${prefix}.${value}`;
  return has(k) ? cat[k] : String(value);
}

// The note's text in the chosen language (order_notes_v: rendered / rendered_hans /
// rendered_en), falling back to the canonical Traditional Chinese.
export function noteText(n) {
  if (lang === 'zh-Hans' && n.rendered_hans) return n.rendered_hans;
  if (lang === 'en' && n.rendered_en) return n.rendered_en;
  return n.rendered || '';
}
