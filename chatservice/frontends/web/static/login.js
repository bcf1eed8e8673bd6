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
 * The password is kept in this module's memory only, for those reconnects:
 * the page stores nothing but the nickname (there is no "remember me").
 * Over plain http the form warns that the password crosses the network
 * unprotected.
 */
import { send } from './connection.js';
import { addLine, serverBuffer } from './render.js';
import { state } from './state.js';

export const SASL_CAP = 'sasl';
export const REGISTER_CAP = 'draft/account-registration';
const CHUNK = 400;
const BUTTON = { guest: 'Join the chat', login: 'Log in and join', register: 'Register and join' };

const $ = (id) => document.getElementById(id);
const form = {
  mode: $('login-mode'), secret: $('login-secret'), password: $('login-password'),
  insecure: $('login-insecure'), button: $('login-button'),
};

// What the form asked for when it was sent; the account once logged in.
const auth = { mode: 'guest', password: '', waiting: false, account: '' };

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
  return auth.mode;
}

function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/* Refused: before the first welcome, back to the form; after it, as a guest. */
function refused(text) {
  auth.waiting = false;
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
  if (auth.account) addLine(serverBuffer(), 'info', `You are logged in as ${auth.account}.`);
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
