// login.js — the login page: name and password → POST /api/v1/login, which sets the session
// cookie and answers the user and the CSRF token. A wrong name or password (401) and too
// many attempts (429) are shown as the server words them.
import { post } from '../api.js';
import { t, LANGS, loadLang, currentLang } from '../i18n.js';
import { h, clear, errorMessage } from '../dom.js';

export function render(ctx) {
  const msgs = h('div.msgs');
  const name = h('input', { id: 'login-name', name: 'name', type: 'text', autocomplete: 'username',
    required: true, autofocus: true, 'data-test': 'login-name' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password',
    autocomplete: 'current-password', required: true, 'data-test': 'login-password' });
  const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', 'data-test': 'login-submit' },
    t('login.submit'));
  const form = h('form.login-card', { 'data-test': 'login-form' },
    h('div.login-brand', h('span.brand-mark', 'OF'), h('span', t('app.name'))),
    h('h1', t('login.title')),
    msgs,
    h('label.field.field-block', { for: 'login-name' }, h('span.field-label', t('login.name')), name),
    h('label.field.field-block', { for: 'login-password' }, h('span.field-label', t('login.password')),
      password),
    submit,
    h('div.login-lang',
      LANGS.map((l) => h('button.linklike', { type: 'button', class: l === currentLang() ? 'active' : null,
        onclick: async () => {
          await loadLang(l);
          render(ctx);
        } }, t(`lang.${l}`)))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(msgs);
    submit.disabled = true;
    try {
      const { data } = await post('/login', { name: name.value.trim(), password: password.value },
        { noRedirect: true });
      ctx.onLogin(data.user, data.csrf_token, ctx.query.get('next'));
    } catch (err) {
      msgs.appendChild(errorMessage(err, { 401: 'login.failed' }));
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  clear(ctx.el).appendChild(form);
}
