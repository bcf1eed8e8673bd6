/*
 * history.js: a room's or a private conversation's past, from the server's
 * draft/chathistory, and searching a room with soju.im/search.
 *
 * Opening a room, or a private tab (CHATHISTORY with the nick as target: the
 * server keeps private messages between two accounts, for those two only,
 * and answers anyone else with an empty batch), asks for its latest messages
 * (CHATHISTORY LATEST) and shows them above the live ones; scrolling to the top of a log asks for the page
 * before the oldest message shown (BEFORE), keeping the scroll position,
 * until a page comes back short.  After a reconnect each tab asks for what
 * came after the last message it showed (AFTER, again while pages come back
 * full), so nothing is missed.  Every line is kept by its msgid, so one that
 * arrives both live and from history is shown once; msgids are opaque, and
 * lines go in the order the server gives them.
 *
 * Without draft/chathistory and batch from the server, none of this is
 * asked for and the page works as before.
 */
import { send } from './connection.js';
import { describe, lineKey } from './events.js';
import { escapeTag, fold } from './irc.js';
import { addLine, keep, makeRow, redoDays, select, timeOf, ui } from './render.js';
import { isMe, state } from './state.js';

const PAGE = 50;
const CATCH_UP = 1000;
// How near the top of a log (in pixels) scrolling asks for older lines.
const NEAR_TOP = 60;

export const HISTORY_CAPS = ['batch', 'draft/chathistory', 'draft/event-playback', 'soju.im/search'];

export const enabled = () => state.caps.has('draft/chathistory') && state.caps.has('batch');
const clamp = (n) => (state.historyMax > 0 ? Math.min(n, state.historyMax) : n);
const rowsWithIds = (b) => b.log.querySelectorAll('.line[data-msgid]');

function request(b, kind, ref, limit, mark) {
  b.requests.push({ kind, ref, limit, mark });
  send('CHATHISTORY', kind.toUpperCase(), b.name, ref, limit);
}

function showEdge(b) {
  const loading = b.requests.some((r) => r.kind !== 'after');
  b.edge.hidden = !loading && !b.historyDone;
  b.edge.textContent = loading ? 'Loading earlier messages\u2026' : `This is the start of ${b.name}.`;
}

// We joined room b (its JOIN line is the last line of its log), or opened
// (or reconnected with) private tab b: show what was said before, or what we
// missed since the last line we showed.
export function joined(b, joinId = '') {
  if (!enabled() || b.kind === 'server' || b.requests.length) return;
  // Our own JOIN line has an id too; what counts is what was shown before it.
  const rows = [...rowsWithIds(b)].filter((row) => !joinId || row.dataset.msgid !== joinId);
  if (rows.length) {
    const last = rows[rows.length - 1];
    request(b, 'after', 'msgid=' + last.dataset.msgid, clamp(CATCH_UP), b.log.lastElementChild);
  } else {
    request(b, 'latest', '*', clamp(PAGE), null);
    showEdge(b);
  }
}

// A private tab was opened (by the user, or by a message that came).
export function opened(b) {
  if (b.kind === 'query' && state.registered) joined(b);
}

function loadOlder(b) {
  if (!enabled() || b.kind === 'server' || (b.kind === 'room' && !b.joined)) return;
  if (b.historyDone) return;
  if (b.requests.some((r) => r.kind !== 'after')) return;
  const oldest = b.log.querySelector('.line[data-msgid]');
  if (oldest) request(b, 'before', 'msgid=' + oldest.dataset.msgid, clamp(PAGE), null);
  else request(b, 'latest', '*', clamp(PAGE), null);
  showEdge(b);
}

// A shown log with no scroll bar cannot be scrolled up: fetch until it has one.
function fillIfShort(b) {
  if (b === state.current && !b.log.hidden && b.log.scrollHeight <= b.log.clientHeight + NEAR_TOP) {
    loadOlder(b);
  }
}

export function scrolled(b) {
  if (b.log.scrollTop < NEAR_TOP) loadOlder(b);
}

export const selected = fillIfShort;

// Later in the log than `than`?
const follows = (node, than) => !!(than.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING);

// A chathistory batch for `target` came: place its lines.
export function receiveHistory(target, lines) {
  const b = state.buffers.get(fold(target));
  if (!b) return;
  const req = b.requests.shift() || { kind: 'latest', limit: PAGE, mark: null };
  const log = b.log;
  const fromBottom = log.scrollHeight - log.scrollTop;
  const atBottom = fromBottom - log.clientHeight < 40;
  // Older pages go at the top.  What we missed goes after the lines shown
  // since we joined again (topic, names) and before any that came live since.
  let cursor = b.edge;
  if (req.kind === 'after') {
    cursor = req.mark && req.mark.parentNode === log ? req.mark : log.lastElementChild;
    while (cursor.nextElementSibling && !cursor.nextElementSibling.dataset.msgid) {
      cursor = cursor.nextElementSibling;
    }
  }
  let added = 0, lastId = '';
  for (const m of lines) {
    const id = m.tags.msgid || '';
    if (id) lastId = id;
    const key = lineKey(m);
    const seen = key && b.ids.get(key);
    if (seen) {
      if (follows(seen, cursor)) cursor = seen;
      continue;
    }
    // Our own join that the log shows already, replayed.
    if (m.command === 'JOIN' && isMe(m.nick) && m.tags.time && m.tags.time === b.joinedAt) continue;
    const line = describe(m, b.name);
    if (!line) continue;
    const row = makeRow(line.kind, line.text, line.nick, timeOf(m), id);
    keep(b, row, key);
    cursor.after(row);
    cursor = row;
    added += 1;
  }
  if (added) redoDays(b);
  if (req.kind === 'after') {
    if (atBottom) log.scrollTop = log.scrollHeight;
    if (added && b !== state.current) b.tab.classList.add('unread');
    if (lines.length >= req.limit && lastId) request(b, 'after', 'msgid=' + lastId, req.limit, cursor);
  } else {
    if (req.kind === 'latest' && atBottom) log.scrollTop = log.scrollHeight;
    else log.scrollTop = log.scrollHeight - fromBottom;
    if (lines.length < req.limit) b.historyDone = true;
    showEdge(b);
    fillIfShort(b);
  }
}

// FAIL CHATHISTORY <code> <context...> :<description>
export function historyFailed(m) {
  const [, code = '', ...rest] = m.params;
  const description = rest.length ? rest[rest.length - 1] : code;
  const waiting = [...state.buffers.values()].filter((x) => x.requests.length);
  const b = waiting.find((x) => rest.slice(0, -1).some((p) => fold(p) === x.key)) || waiting[0];
  if (!b) return;
  const req = b.requests.shift();
  if (req.kind === 'after' && req.ref.startsWith('msgid=')) {
    // The server does not know that msgid: ask by the time of that line instead.
    const row = b.ids.get(req.ref.slice(6));
    const time = row && row.querySelector('time').dateTime;
    if (time) { request(b, 'after', 'timestamp=' + time, req.limit, req.mark); return; }
  }
  if (req.kind === 'after') {
    addLine(b, 'error', 'The messages missed while disconnected could not be fetched: ' + description);
    return;
  }
  b.historyDone = true;
  showEdge(b);
  b.edge.hidden = false;
  b.edge.textContent = 'Earlier messages are not available: ' + description;
}

// The connection is gone: nothing asked for will be answered.
export function forget() {
  state.batches.clear();
  for (const b of state.buffers.values()) {
    b.requests = [];
    if (b.edge) showEdge(b);
  }
  if (state.search && state.search.waiting) searchFailed('Disconnected from the server.');
}

// Searching the current room

export function search(text) {
  const b = state.current;
  if (!b || b.kind !== 'room') return showResults('Search works in a room.', []);
  state.search = { room: b.name, text, waiting: true };
  showResults(`Searching ${b.name} for \u201c${text}\u201d\u2026`, []);
  if (!send('SEARCH', `in=${escapeTag(b.name)};text=${escapeTag(text)}`)) {
    searchFailed('Not connected.');
  }
}

export function receiveSearch(lines) {
  const asked = state.search || { room: '', text: '' };
  const rows = [];
  for (const m of lines) {
    const line = describe(m, m.params[0] || asked.room);
    if (!line) continue;
    const row = makeRow(line.kind, line.text, line.nick, timeOf(m), m.tags.msgid || '', true);
    const b = state.buffers.get(fold(m.params[0] || ''));
    const shown = b && m.tags.msgid && b.ids.get(m.tags.msgid);
    if (shown) {
      row.classList.add('found');
      row.tabIndex = 0;
      row.title = 'Show in the conversation';
      const go = () => { closeSearch(); select(b); shown.scrollIntoView({ block: 'center' }); flash(shown); };
      row.addEventListener('click', go);
      row.addEventListener('keydown', (event) => { if (event.key === 'Enter') go(); });
    }
    rows.push(row);
  }
  const count = rows.length === 1 ? '1 message' : `${rows.length} messages`;
  showResults(rows.length ? `${count} in ${asked.room} with \u201c${asked.text}\u201d`
    : `No messages in ${asked.room} with \u201c${asked.text}\u201d`, rows);
  state.search = null;
}

export function searchFailed(description) {
  if (!state.search) return false;
  showResults('Search failed: ' + description, []);
  state.search = null;
  return true;
}

function flash(row) {
  row.classList.add('flash');
  setTimeout(() => row.classList.remove('flash'), 2000);
}

function showResults(title, rows) {
  ui.searchTitle.textContent = title;
  ui.searchResults.replaceChildren(...rows);
  ui.searchPanel.hidden = false;
}

export function closeSearch() {
  ui.searchPanel.hidden = true;
  ui.searchResults.replaceChildren();
  state.search = null;
  ui.search.value = '';
  ui.input.focus();
}
