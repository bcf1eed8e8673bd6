/*
 * connection.js: the WebSocket to /ws on the page's own host (wss: under
 * https:) with the text.ircv3.net subprotocol; each WebSocket text message
 * is one IRC line.
 *
 * It PINGs a server that has been silent for a minute.  When the connection
 * drops (or that PING goes unanswered), it reconnects with a growing delay
 * (0.5 s doubling up to 30 s), showing a "Reconnecting" bar meanwhile.
 */
import { format, parse } from './irc.js';
import { addLine, changed, showLogin, showStatus } from './render.js';
import { rooms, state } from './state.js';

// After a minute of silence the page PINGs the server, and gives up on a
// connection that has not answered 20 s after that (a vanished host sends
// no close).
const KEEPALIVE = 60000;
const PATIENCE = 20000;

// Who hears what the server says (handlers.js), and what else must forget
// the connection when it goes (history.js).
export const listeners = { receive: () => {}, lost: () => {} };

export function send(command, ...params) {
  return sendRaw(format(command, ...params));
}

export function sendRaw(line) {
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) return false;
  socket.send(line);
  return true;
}

export function connect() {
  clearTimeout(state.timer);
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const socket = new WebSocket(url, 'text.ircv3.net');
  Object.assign(state, { socket, registered: false, closeReason: '', offered: [], nickTries: 0,
    heard: Date.now(), pinged: 0 });
  state.caps.clear();
  socket.onopen = () => {
    send('CAP', 'LS', '302');
    send('NICK', state.wanted);
    send('USER', 'web', '0', '*', 'chat page user');
  };
  socket.onmessage = (event) => {
    if (socket !== state.socket) return;
    state.heard = Date.now();
    for (const line of String(event.data).split(/\r?\n/)) if (line) listeners.receive(parse(line));
  };
  socket.onclose = () => { if (socket === state.socket) disconnected(); };
}

function disconnected() {
  const wasRegistered = state.registered;
  state.socket = null;
  state.registered = false;
  listeners.lost();
  for (const b of rooms()) { b.members.clear(); changed(b); }
  if (!state.everRegistered) {
    showLogin(state.closeReason || 'Could not reach the chat server; try again.');
    return;
  }
  if (wasRegistered) {
    for (const b of state.buffers.values()) addLine(b, 'error', 'Disconnected from the server'
      + (state.closeReason ? ': ' + state.closeReason : '.'));
  }
  if (state.quitting) {
    showStatus('You have left the chat.', 'Connect again');
    return;
  }
  const delay = Math.min(30000, 500 * 2 ** state.attempts) * (0.8 + Math.random() * 0.4);
  state.attempts += 1;
  showStatus(`Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s`
    + ` (attempt ${state.attempts})\u2026`, 'Reconnect now');
  state.timer = setTimeout(reconnect, delay);
}

export function keepAlive() {
  const socket = state.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  const now = Date.now();
  if (state.pinged > state.heard && now - state.pinged > PATIENCE) {
    state.closeReason = 'the server stopped answering';
    state.socket = null;  // its close event, whenever it comes, is ignored
    socket.close();
    disconnected();
  } else if (state.pinged <= state.heard && now - state.heard > KEEPALIVE) {
    state.pinged = now;
    send('PING', 'keepalive');
  }
}

export function reconnect() {
  clearTimeout(state.timer);
  if (state.socket) return;
  state.quitting = false;
  showStatus('Reconnecting\u2026', 'Reconnect now');
  connect();
}
