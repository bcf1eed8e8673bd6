/*
 * readmarker.js: the "new messages" divider (IRCv3 draft/read-marker).
 *
 * The server keeps, for each room and conversation, up to when this client
 * has read it (MARKREAD <target> timestamp=<time>, answered and sent on
 * joining).  When a tab is shown, the divider goes before its first line
 * newer than that, and the page tells the server it has now read up to the
 * newest line.
 */
import { send } from './connection.js';
import { el } from './render.js';
import { state } from './state.js';

export const READ_MARKER_CAP = 'draft/read-marker';

const rowTime = (row) => new Date(row.querySelector('time').dateTime);

// The server said up to when b was read ('*': never).  The divider moves
// only when the tab is shown again, not while it is being read.
export function received(b, marker) {
  const first = b.readAt === undefined;
  b.readAt = marker.startsWith('timestamp=') ? marker.slice('timestamp='.length) : '';
  if (first) placeDivider(b);
}

function placeDivider(b) {
  const old = b.log.querySelector('.unread-marker');
  if (old) old.remove();
  if (!b.readAt) return;
  const read = new Date(b.readAt);
  const first = [...b.log.querySelectorAll('.line')].find((row) => rowTime(row) > read);
  if (!first) return;
  const divider = el('div', 'unread-marker', 'New messages');
  divider.setAttribute('role', 'separator');
  first.before(divider);
}

// The tab on screen: what arrives there while it is shown is read.
let showing = null;

// b is shown: the tab left behind was read to its end; put b's divider
// where the reader left off, and tell the server that b is now read.
export function shown(b) {
  if (!state.caps.has(READ_MARKER_CAP)) return;
  if (showing && showing !== b && state.buffers.get(showing.key) === showing) markRead(showing);
  showing = b;
  if (b.kind === 'server') return;
  placeDivider(b);
  markRead(b);
}

function markRead(b) {
  if (b.kind === 'server') return;
  const times = b.log.querySelectorAll('.line time');
  if (!times.length) return;
  const newest = times[times.length - 1].dateTime;
  if (b.sentRead === newest || (b.readAt && new Date(b.readAt) >= new Date(newest))) return;
  b.sentRead = newest;
  send('MARKREAD', b.name, 'timestamp=' + newest);
}
