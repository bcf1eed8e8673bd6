/*
 * render.js: the page's DOM.  What users send is put in the page with
 * textContent and createElement only, never as HTML; IRC bold, italics and
 * underline become spans, colours and other control characters are dropped.
 */
import { fileCard } from './cards.js';
import { dayBreaks, dayKey, dayLabel } from './days.js';
import { fold } from './irc.js';
import { SERVER_KEY, isMe, state } from './state.js';

const NICK_COLOURS = 8;
const MAX_LINES = 1000;

const $ = (id) => document.getElementById(id);
export const ui = {
  login: $('login'), loginForm: $('login-form'), loginNick: $('login-nick'),
  loginError: $('login-error'), chat: $('chat'), tabs: $('tabs'), joinForm: $('join-form'),
  joinRoom: $('join-room'), membersToggle: $('members-toggle'), status: $('status'),
  statusText: $('status-text'), reconnectNow: $('reconnect-now'), topic: $('topic'),
  logs: $('logs'), membersTitle: $('members-title'), memberList: $('member-list'),
  inputForm: $('input-form'), input: $('input'), myNick: $('my-nick'),
  searchForm: $('search-form'), search: $('search'), searchPanel: $('search-panel'),
  searchTitle: $('search-title'), searchClose: $('search-close'), searchResults: $('search-results'),
};

// What the rest of the page does when a tab's close button is pressed, when
// a log is scrolled, when a tab is shown and when one is opened (commands.js
// and history.js).
export const hooks = {
  closeBuffer: () => {}, scrolled: () => {}, selected: () => {}, opened: () => {},
};

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function colour(nick) {
  let hash = 0;
  for (const c of fold(nick)) hash = (hash * 31 + c.charCodeAt(0)) | 0;
  return 'c' + (Math.abs(hash) % NICK_COLOURS);
}

// Text as DOM nodes: formatting codes become spans or disappear, URLs links.

function appendText(parent, text) {
  const url = /\bhttps?:\/\/[^\s<>"]+/g;
  let at = 0;
  for (let m; (m = url.exec(text));) {
    const href = m[0].replace(/[.,;:!?)\]'}]+$/, '');
    parent.append(text.slice(at, m.index));
    const a = el('a', '', href);
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    parent.append(a);
    at = m.index + href.length;
    url.lastIndex = at;
  }
  parent.append(text.slice(at));
}

export function formatted(text) {
  const out = el('span', 'text');
  const style = new Set();
  let run = '';
  const flush = () => {
    run = run.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, '');
    if (!run) return;
    const span = style.size ? el('span', [...style].join(' ')) : out;
    appendText(span, run);
    if (span !== out) out.append(span);
    run = '';
  };
  const toggles = { '\x02': 'f-b', '\x1d': 'f-i', '\x1f': 'f-u', '\x1e': 'f-s', '\x11': 'f-m' };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (toggles[c]) {
      flush();
      if (!style.delete(toggles[c])) style.add(toggles[c]);
    } else if (c === '\x0f') {
      flush();
      style.clear();
    } else if (c === '\x03' || c === '\x04') {
      flush();
      const colours = c === '\x03' ? /^(\d{1,2}(,\d{1,2})?)?/ : /^([0-9a-f]{6}(,[0-9a-f]{6})?)?/i;
      i += colours.exec(text.slice(i + 1))[0].length;
    } else {
      run += c;
    }
  }
  flush();
  return out;
}

// Buffers: the server, rooms and private conversations

export function buffer(name, kind) {
  const key = kind === 'server' ? SERVER_KEY : fold(name);
  let b = state.buffers.get(key);
  if (b) return b;
  b = { key, name, kind, joined: false, topic: '', members: new Map(), log: el('div', 'log'),
    // History: the rows shown by msgid, the CHATHISTORY requests waiting for
    // their batch, whether older pages remain, and the line above the log.
    ids: new Map(), requests: [], historyDone: false, joinedAt: '', edge: el('p', 'history-edge') };
  b.log.setAttribute('role', 'log');
  b.log.hidden = true;
  b.edge.hidden = true;
  b.log.append(b.edge);
  b.log.addEventListener('scroll', () => hooks.scrolled(b), { passive: true });
  b.tab = el('div', 'tab');
  b.tabName = el('button', 'tab-name', kind === 'server' ? 'server' : name);
  b.tabName.type = 'button';
  b.tabName.addEventListener('click', () => select(b));
  b.tab.append(b.tabName);
  if (kind !== 'server') {
    const close = el('button', 'tab-close', '\u00d7');
    close.type = 'button';
    close.setAttribute('aria-label', kind === 'room' ? 'Leave ' + name : 'Close ' + name);
    close.addEventListener('click', () => hooks.closeBuffer(b));
    b.tab.append(close);
  }
  state.buffers.set(key, b);
  ui.tabs.append(b.tab);
  ui.logs.append(b.log);
  hooks.opened(b);
  return b;
}

export const serverBuffer = () => buffer('server', 'server');

export function select(b) {
  state.current = b;
  for (const other of state.buffers.values()) {
    other.log.hidden = other !== b;
    other.tab.classList.toggle('active', other === b);
  }
  b.tab.classList.remove('unread', 'mention');
  b.log.scrollTop = b.log.scrollHeight;
  ui.input.placeholder = b.kind === 'server' ? 'Commands: /join #room, /msg nick text, /help'
    : 'Message ' + b.name;
  showTopic();
  showMembers();
  hooks.selected(b);
}

export function removeBuffer(b) {
  b.tab.remove();
  b.log.remove();
  state.buffers.delete(b.key);
  if (state.current === b) {
    const rest = [...state.buffers.values()];
    select(rest.find((x) => x.kind !== 'server') || serverBuffer());
  }
}

export function renameBuffer(b, name) {
  state.buffers.delete(b.key);
  b.key = fold(name);
  b.name = name;
  b.tabName.textContent = name;
  state.buffers.set(b.key, b);
  if (state.current === b) select(b);
}

function showTopic() {
  const b = state.current;
  ui.topic.replaceChildren();
  if (b.kind === 'room') ui.topic.append(b.topic ? formatted(b.topic) : el('span', 'muted', 'No topic'));
  else if (b.kind === 'query') ui.topic.textContent = 'Private conversation with ' + b.name;
  else ui.topic.textContent = 'Messages from the server';
}

function rank(member) {
  const i = state.prefixOrder.indexOf(member.prefixes[0]);
  return i < 0 ? state.prefixOrder.length : i;
}

function showMembers() {
  const b = state.current;
  ui.memberList.replaceChildren();
  if (b.kind !== 'room') {
    ui.membersTitle.textContent = 'People';
    return;
  }
  const members = [...b.members.values()].sort((x, y) =>
    rank(x) - rank(y) || fold(x.nick).localeCompare(fold(y.nick)));
  ui.membersTitle.textContent = `People in ${b.name} (${members.length})`;
  for (const m of members) {
    const li = el('li', 'member' + (m.away ? ' away' : '') + (m.bot ? ' bot' : ''));
    const button = el('button', 'nick ' + colour(m.nick));
    button.type = 'button';
    button.title = (isMe(m.nick) ? 'You' : 'Talk privately with ' + m.nick) + (m.bot ? ' (a bot)' : '');
    button.append(el('span', 'prefix', m.prefixes.slice(0, 1)), m.nick);
    button.addEventListener('click', () => { if (!isMe(m.nick)) select(buffer(m.nick, 'query')); });
    li.append(button);
    ui.memberList.append(li);
  }
}

export function changed(b) {
  if (b === state.current) { showTopic(); showMembers(); }
}

// One line of a log, not yet placed. kind: msg, action, notice, event, info
// or error; withDate shows the date beside the time (search results).
// A "bot" badge after the sender's nick, for a message a bot sent (+B).
export function markBot(row) {
  const nick = row.querySelector('.nick');
  if (!nick) return;
  const badge = el('span', 'bot', 'bot');
  badge.title = 'This sender says it is a bot';
  nick.after(badge);
}

export function makeRow(kind, text, nick, when, msgid, withDate) {
  when = when instanceof Date && !isNaN(when) ? when : new Date();
  const row = el('div', 'line ' + kind);
  const shownTime = withDate
    ? when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })
    : when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const time = el('time', 'time', shownTime);
  time.dateTime = when.toISOString();
  time.title = when.toLocaleString();
  row.append(time);
  if (nick) {
    const shown = kind === 'action' ? '* ' + nick : kind === 'notice' ? '-' + nick + '-' : nick;
    row.append(el('span', 'nick ' + colour(nick), shown));
  }
  const card = kind === 'action' && nick ? fileCard(text, isMe(nick)) : null;
  row.append(card || formatted(text));
  if (card) row.classList.add('file');
  row.dataset.day = dayKey(when);
  if (msgid) row.dataset.msgid = msgid;
  return row;
}

function daySeparator(day, when) {
  const row = el('div', 'day', dayLabel(when));
  row.setAttribute('role', 'separator');
  row.dataset.day = day;
  return row;
}

const lineTime = (row) => new Date(row.querySelector('time').dateTime);

// Put day separators back between the lines of b's log after lines were
// inserted out of the end.
export function redoDays(b) {
  for (const old of [...b.log.getElementsByClassName('day')]) old.remove();
  const rows = [...b.log.getElementsByClassName('line')];
  const times = rows.map(lineTime);
  for (const i of dayBreaks(times)) rows[i].before(daySeparator(rows[i].dataset.day, times[i]));
}

// Drop the oldest lines of a log that has grown too long, and whatever
// separators they leave at its top.
function trim(b) {
  const lines = b.log.getElementsByClassName('line');
  if (lines.length <= MAX_LINES) return;
  while (lines.length > MAX_LINES) {
    const first = lines[0];
    if (first.dataset.key) b.ids.delete(first.dataset.key);
    first.remove();
  }
  b.historyDone = false;  // what was dropped can be fetched again
  b.edge.hidden = true;
  while (b.edge.nextElementSibling && !b.edge.nextElementSibling.classList.contains('line')) {
    b.edge.nextElementSibling.remove();
  }
}

// Remember that row shows the line with this key (events.js's lineKey).
export function keep(b, row, key) {
  if (!key) return;
  row.dataset.key = key;
  b.ids.set(key, row);
}

// Add a line at the end of b's log; a line whose key (msgid) is shown
// already is not added again.  Returns the row, or null.
export function addLine(b, kind, text, nick, when, msgid, key = msgid) {
  if (key && b.ids.has(key)) return null;
  const log = b.log;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const row = makeRow(kind, text, nick, when, msgid);
  keep(b, row, key);
  const lines = log.getElementsByClassName('line');
  const last = lines[lines.length - 1];
  if (last && last.dataset.day !== row.dataset.day) {
    log.append(daySeparator(row.dataset.day, lineTime(row)));
  }
  log.append(row);
  // A reader scrolled up into older pages keeps them until back at the end.
  if (atBottom || b !== state.current) trim(b);
  if (atBottom || b !== state.current) log.scrollTop = log.scrollHeight;
  if (b !== state.current && nick && !isMe(nick)) {
    b.tab.classList.add('unread');
    if (b.kind === 'query' || mentions(text)) b.tab.classList.add('mention');
  }
  return row;
}

function mentions(text) {
  const nick = state.nick.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return nick !== '' && new RegExp('(^|\\W)' + nick + '(\\W|$)', 'i').test(text);
}

export const note = (kind, text) => addLine(state.current || serverBuffer(), kind, text);
export const timeOf = (msg) => (msg.tags.time ? new Date(msg.tags.time) : new Date());

export function showStatus(text, button) {
  ui.status.hidden = !text;
  document.body.classList.toggle('offline', !!text);
  ui.statusText.textContent = text;
  ui.reconnectNow.textContent = button || '';
}

export function showLogin(error) {
  ui.chat.hidden = true;
  ui.login.hidden = false;
  ui.loginError.hidden = !error;
  ui.loginError.textContent = error || '';
  ui.loginNick.focus();
  ui.loginNick.select();
}
