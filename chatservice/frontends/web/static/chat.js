/*
 * chat.js: the chat page, a small IRC client of this server's /ws, as
 * native ES modules with no build step:
 *
 *   irc.js         the IRC wire: parsing and writing lines, case mapping
 *   state.js       what the page knows: connection, rooms, people
 *   render.js      the DOM (textContent and createElement only, never HTML)
 *   connection.js  the WebSocket, keepalive, reconnecting with backoff
 *   handlers.js    what the server says
 *   commands.js    what the user types
 *   events.js      how messages and events read, live or from history
 *   history.js     a room's history (draft/chathistory) and search
 *   days.js        which lines start a new day
 *   files.js       sharing files: attach, drop, paste, the upload's progress
 *   cards.js       a shared file's card in a log, with an image's preview
 *   login.js       logging in to an account (SASL PLAIN) or registering one,
 *                  "remember me" (a login token) and logging out
 *
 * It registers with CAP LS 302 / CAP REQ / CAP END, NICK and USER (asking
 * for server-time, echo-message, multi-prefix, away-notify and
 * message-tags, and batch, draft/chathistory, draft/event-playback and
 * soju.im/search for history), then joins #lobby (or the room named in the URL's #hash).
 * It keeps one tab per room, per private conversation and one for the
 * server.  After a reconnect it registers the same nick again and rejoins
 * its rooms.
 *
 * This module wires the page together; the others only export.
 */
import { submit, closeBuffer } from './commands.js';
import { connect, keepAlive, listeners, reconnect, send } from './connection.js';
import { receive } from './handlers.js';
import './files.js';
import { chosen, resume } from './login.js';
import { closeSearch, forget, opened, scrolled, search, selected } from './history.js';
import { shown } from './readmarker.js';
import { hooks, select, serverBuffer, ui } from './render.js';
import { state } from './state.js';

Object.assign(hooks, { closeBuffer, scrolled, opened, selected: (b) => { selected(b); shown(b); } });
Object.assign(listeners, { receive, lost: forget });

ui.loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const nick = ui.loginNick.value.trim();
  if (!nick) return;
  state.wanted = nick;
  ui.loginError.hidden = true;
  const guest = chosen() === 'guest';
  const open = state.socket && state.socket.readyState === WebSocket.OPEN && !state.registered;
  // A nick refused while connecting as a guest is simply chosen again; an
  // account's log-in or registration starts over on a new connection.
  if (open && guest) send('NICK', nick);
  else if (open || !state.socket) {
    if (state.socket) { const old = state.socket; state.socket = null; old.close(); }
    connect();
  }
});
ui.inputForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.input.value;
  ui.input.value = '';
  submit(text);
});
ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (ui.joinRoom.value.trim()) submit('/join ' + ui.joinRoom.value);
  ui.joinRoom.value = '';
});
ui.membersToggle.addEventListener('click', () => {
  const open = document.body.classList.toggle('show-members');
  ui.membersToggle.setAttribute('aria-expanded', String(open));
});
ui.searchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (ui.search.value.trim()) search(ui.search.value.trim());
});
ui.searchClose.addEventListener('click', closeSearch);
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && !ui.searchPanel.hidden) {
    event.preventDefault();
    closeSearch();
  }
});
ui.reconnectNow.addEventListener('click', reconnect);
setInterval(keepAlive, 5000);
window.addEventListener('online', () => { if (state.everRegistered && !state.socket && !state.quitting) reconnect(); });
try { ui.loginNick.value = localStorage.getItem('chat.nick') || ''; } catch (e) { /* private mode */ }
select(serverBuffer());
resume();
