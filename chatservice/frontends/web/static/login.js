/*
 * login.js: logging in to an account, or registering one, while the page
 * connects.  The nickname typed in the form is the account name.
 *
 *   log in:   CAP REQ sasl, AUTHENTICATE PLAIN, then the base64 of
 *             "\0account\0password" (in pieces of 400 characters, a lone "+"
 *             after an exact multiple), and CAP END once 903 says it worked;
 *   register: CAP REQ draft/account-registration, REGISTER * * password,
 *             and CAP END once REGISTER SUCCESS says it worked (the server
 *             logs the new account in).
 *
 * A refusal (904-906, FAIL REGISTER) before the first welcome closes the
 * connection and shows the server's reason in the form.  After a reconnect
 * the page logs in again with the password it kept; a refusal then goes to
 * the server tab and the page carries on as a guest.
 *
 * The password is kept in this module's memory only, for those reconnects.
 * Unless "remember me" is ticked, the page stores nothing but the nickname.
 * Ticked, once logged in the page asks for a login token (TOKEN NEW with
 * the browser's user agent as its label, see the server's
 * frontends/irc/commands/tokens.py) and keeps it, never the password, in
 * localStorage ("chat.login": the account and the token); from then on it
 * logs in with the token (SASL PLAIN, the token as the password) on its own
 * when the page is opened, and after reconnects.  A refused token is
 * forgotten and the form asks for the password.  "Log out" revokes the
 * token (TOKEN REVOKE), forgets it and leaves.  Over plain http the form
 * warns that the password crosses the network unprotected.
 */
import { connect, send } from './connection.js';
import { addLine, serverBuffer, showLogin } from './render.js';
import { state } from './state.js';

export const SASL_CAP = 'sasl';
export const REGISTER_CAP = 'draft/account-registration';
const CHUNK = 400;
const BUTTON = { guest: 'Join the chat', login: 'Log in and join', register: 'Register and join' };
const STORED = 'chat.login';

const $ = (id) => document.getElementById(id);
const form = {
  mode: $('login-mode'), secret: $('login-secret'), password: $('login-password'),
  insecure: $('login-insecure'), button: $('login-button'), remember: $('login-remember'),
  logout: $('logout'),
};

// What the form asked for when it was sent; the account once logged in;
// whether to remember the login, and whether the "password" is a token.
const auth = {
  mode: 'guest', password: '', waiting: false, account: '', remember: false, token: false,
};

/* The remembered login ({ account, token }), or null (and anything else there is dropped). */
function stored() {
  let kept = null;
  try {
    kept = JSON.parse(localStorage.getItem(STORED) || 'null');
  } catch (e) { /* garbage, or private mode */ }
  if (kept && typeof kept.account === 'string' && typeof kept.token === 'string') return kept;
  store(null);
  return null;
}

function store(kept) {
  try {
    if (kept) localStorage.setItem(STORED, JSON.stringify(kept));
    else localStorage.removeItem(STORED);
  } catch (e) { /* private mode */ }
}

const modeInForm = () => form.mode.querySelector('input:checked').value;

function modeChanged() {
  const mode = modeInForm();
  form.secret.hidden = mode === 'guest';
  form.password.required = mode !== 'guest';
  form.password.autocomplete = mode === 'register' ? 'new-password' : 'current-password';
  form.insecure.hidden = mode === 'guest' || location.protocol === 'https:';
  form.button.textContent = BUTTON[mode];
}
form.mode.addEventListener('change', modeChanged);
modeChanged();

/* The form was sent: take its choice for this connection and the next ones. */
export function chosen() {
  auth.mode = modeInForm();
  auth.password = auth.mode === 'guest' ? '' : form.password.value;
  auth.account = '';
  auth.remember = auth.mode !== 'guest' && form.remember.checked;
  auth.token = false;
  store(null);  // unticked, nothing but the nickname stays
  return auth.mode;
}

/* On opening the page: log in with the remembered token, if there is one; whether it does. */
export function resume() {
  const kept = stored();
  if (!kept) return false;
  Object.assign(auth, { mode: 'login', password: kept.token, account: '', remember: true,
    token: true });
  state.wanted = kept.account;
  form.mode.querySelector('input[value=login]').checked = true;
  form.remember.checked = true;
  modeChanged();
  connect();
  return true;
}

/* "Log out": revoke and forget the remembered token, leave, and show the form again. */
export function logOut() {
  const kept = stored();
  store(null);
  auth.password = '';
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    location.reload();
    return;
  }
  socket.addEventListener('close', () => location.reload());
  state.quitting = true;
  if (kept && auth.token) send('TOKEN', 'REVOKE', kept.token);
  send('QUIT', 'Logged out');
}
form.logout.addEventListener('click', logOut);

function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/* Refused: before the first welcome, back to the form; after it, as a guest. */
function refused(text) {
  auth.waiting = false;
  if (auth.token && !/Too many failed logins/.test(text)) {
    // The remembered token is revoked or expired: forget it, ask for the password.
    store(null);
    Object.assign(auth, { token: false, password: '' });
    if (!state.everRegistered) {
      form.password.value = '';
      text = 'Your remembered login has expired or was revoked; log in with your password. ('
        + text + ')';
      state.closeReason = text;
      const socket = state.socket;
      if (socket) socket.close();
      else showLogin(text);
      return;
    }
  }
  if (!state.everRegistered) {
    state.closeReason = text;
    const socket = state.socket;
    if (socket) socket.close();
    return;
  }
  addLine(serverBuffer(), 'error', text);
  auth.mode = 'guest';
  if (!state.registered) send('CAP', 'END');
}

/* The capability the chosen way in needs, among those offered; null (and refused) if missing. */
export function authCaps(offered) {
  if (auth.mode === 'login') {
    if (offered.includes(SASL_CAP)) return [SASL_CAP];
    refused('This server has no accounts to log in to.');
    return null;
  }
  if (auth.mode === 'register') {
    if (offered.includes(REGISTER_CAP)) return [REGISTER_CAP];
    refused('This server does not let you register an account here.');
    return null;
  }
  return [];
}

/* After CAP ACK/NAK: start logging in or registering; false if there is nothing to do. */
export function startAuth() {
  if (auth.mode === 'guest') return false;
  const cap = auth.mode === 'login' ? SASL_CAP : REGISTER_CAP;
  if (!state.caps.has(cap)) {
    refused('The server refused the ' + cap + ' capability.');
    return true;
  }
  auth.waiting = true;
  if (auth.mode === 'login') send('AUTHENTICATE', 'PLAIN');
  else send('REGISTER', '*', '*', auth.password);
  return true;
}

function proceed() {
  auth.waiting = false;
  if (!state.registered) send('CAP', 'END');
}

function saslFailed(m) {
  if (!auth.waiting) return;
  const why = (m.params[m.params.length - 1] || '').replace(/^SASL authentication failed:?\s*/i, '');
  refused('Could not log in: ' + (why || 'the server refused') + (/[.!]$/.test(why) ? '' : '.'));
}

/* The page has joined the chat: say who is logged in, and clear the password field. */
export function welcomed() {
  form.password.value = '';
  form.logout.hidden = !auth.account;
  if (auth.account) addLine(serverBuffer(), 'info', `You are logged in as ${auth.account}.`);
  if (auth.account && auth.remember && !auth.token) {
    send('TOKEN', 'NEW', (navigator.userAgent || 'a browser').slice(0, 100));
  }
}

/* A FAIL REGISTER line. */
export function registerFailed(m) {
  if (!auth.waiting) return false;
  refused('Could not register: ' + (m.params[m.params.length - 1] || m.params[1] || 'refused'));
  return true;
}

export const authHandlers = {
  AUTHENTICATE: (m) => {
    if (!auth.waiting || auth.mode !== 'login' || m.params[0] !== '+') return;
    const answer = base64(`\0${state.wanted}\0${auth.password}`);
    for (let i = 0; i < answer.length; i += CHUNK) send('AUTHENTICATE', answer.slice(i, i + CHUNK));
    if (answer.length % CHUNK === 0) send('AUTHENTICATE', '+');
  },
  TOKEN: (m) => {
    if ((m.params[0] || '').toUpperCase() !== 'NEW' || !auth.remember || !auth.account) return;
    const token = m.params[2] || '';
    store({ account: auth.account, token });
    // Reconnects log in with the token too: the password leaves memory.
    Object.assign(auth, { password: token, token: true });
  },
  REGISTER: (m) => {
    if ((m.params[0] || '').toUpperCase() !== 'SUCCESS') return;
    auth.mode = 'login';  // a reconnect logs in to the new account
    proceed();
  },
  900: (m) => {
    auth.account = m.params[2] || '';
    if (state.registered) addLine(serverBuffer(), 'info', m.params[m.params.length - 1]);
  },
  903: proceed,
  904: saslFailed,
  905: saslFailed,
  906: saslFailed,
  907: proceed,
  908: () => {},
};
