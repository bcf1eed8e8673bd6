/*
 * handlers.js: what the server says.  Registration (CAP LS 302 / CAP REQ /
 * CAP END, then 001), ISUPPORT, names, topics, and the messages and events
 * of rooms and private conversations, each kept in state.js and shown
 * through render.js.
 */
import { fold, isChannel } from './irc.js';
import { send } from './connection.js';
import { describe, lineKey } from './events.js';
import { tokenNotice } from './files.js';
import {
  HISTORY_CAPS, historyFailed, joined, receiveHistory, receiveSearch, searchFailed,
} from './history.js';
import {
  addLine, buffer, changed, markBot, note, removeBuffer, renameBuffer, select,
  serverBuffer, showLogin, showStatus, timeOf, ui,
} from './render.js';
import { authCaps, authHandlers, registerFailed, startAuth, welcomed } from './login.js';
import { READ_MARKER_CAP, received as readMarker } from './readmarker.js';
import { isMe, rooms, state } from './state.js';

// The token of the WHOX queries the page makes on joining a room.
const WHO_TOKEN = '7';
const WANTED_CAPS = ['server-time', 'echo-message', 'multi-prefix', 'away-notify', 'message-tags',
  'draft/message-redaction', 'draft/channel-rename', READ_MARKER_CAP, ...HISTORY_CAPS];

// A nick was refused while registering: ask again, or after a reconnect
// try a variant ourselves.
function nickRefused(text) {
  state.nickTries += 1;
  if (state.everRegistered && state.nickTries <= 3) {
    state.wanted = state.nick.slice(0, 32 - state.nickTries) + '_'.repeat(state.nickTries);
    send('NICK', state.wanted);
  } else {
    showLogin(text);
  }
}

export const handlers = {
  PING: (m) => send('PONG', ...m.params),
  ERROR: (m) => { state.closeReason = m.params[0] || ''; },
  CAP: (m) => {
    const sub = (m.params[1] || '').toUpperCase();
    const more = m.params[2] === '*';
    if (sub === 'LS') {
      state.offered.push(...m.params[more ? 3 : 2].split(' ').map((c) => c.split('=')[0]));
      if (more) return;
      const account = authCaps(state.offered);
      if (!account) return;
      const wanted = WANTED_CAPS.filter((c) => state.offered.includes(c)).concat(account);
      if (wanted.length) send('CAP', 'REQ', wanted.join(' '));
      else send('CAP', 'END');
    } else if (sub === 'ACK' || sub === 'NAK') {
      if (sub === 'ACK') for (const c of m.params[2].split(' ')) state.caps.add(c);
      if (!state.registered && !startAuth()) send('CAP', 'END');
    }
  },
  '001': (m) => {
    const first = !state.everRegistered;
    Object.assign(state, { nick: m.params[0], wanted: m.params[0], registered: true,
      everRegistered: true, attempts: 0, quitting: false });
    try { localStorage.setItem('chat.nick', state.nick); } catch (e) { /* private mode */ }
    ui.myNick.textContent = state.nick;
    ui.login.hidden = true;
    ui.chat.hidden = false;
    showStatus('');
    addLine(serverBuffer(), 'info', m.params[1] || 'Welcome');
    welcomed();
    if (first) {
      const room = /^#[^\s,]+$/.test(decodeURIComponent(location.hash))
        ? decodeURIComponent(location.hash) : '#lobby';
      state.switchTo = fold(room);
      select(serverBuffer());
      send('JOIN', room);
    } else {
      for (const b of rooms()) if (b.joined) send('JOIN', b.name);
      for (const b of state.buffers.values()) if (b.kind === 'query') joined(b);
    }
    ui.input.focus();
  },
  '005': (m) => {
    for (const token of m.params.slice(1, -1)) {
      const [name, value = ''] = token.split('=');
      const prefix = /^\((\w*)\)(.*)$/.exec(value);
      if (name === 'PREFIX' && prefix) {
        state.prefixes = {};
        [...prefix[1]].forEach((mode, i) => { state.prefixes[mode] = prefix[2][i]; });
        state.prefixOrder = prefix[2];
      } else if (name === 'WHOX') {
        state.whox = true;
      } else if (name === 'CHATHISTORY') {
        state.historyMax = Number(value) || 0;
      } else if (name === 'CHANMODES') {
        const [a = '', b = '', c = ''] = value.split(',');
        state.argModes = a + b + c;
        state.setArgModes = c;
      }
    }
  },
  '432': (m) => {
    const text = `"${m.params[1]}" is not a valid nickname. Use up to 32 letters, digits and`
      + ' _-[]\\`^{}|, not starting with a digit or -.';
    if (!state.registered) nickRefused(text); else note('error', text);
  },
  '433': (m) => {
    if (!state.registered) nickRefused(`The nickname "${m.params[1]}" is already taken; choose another.`);
    else note('error', `The nickname "${m.params[1]}" is already taken.`);
  },
  '331': (m) => addLine(buffer(m.params[1], 'room'), 'info', 'No topic is set'),
  '332': (m) => {
    const b = buffer(m.params[1], 'room');
    b.topic = m.params[2];
    addLine(b, 'info', 'Topic: ' + b.topic);
    changed(b);
  },
  '333': (m) => {
    const when = new Date(Number(m.params[3]) * 1000);
    addLine(buffer(m.params[1], 'room'), 'info',
      `Topic set by ${m.params[2].split('!')[0]} on ${when.toLocaleString()}`);
  },
  '353': (m) => {
    const key = fold(m.params[2]);
    const names = state.names.get(key) || new Map();
    for (const entry of (m.params[3] || '').split(' ').filter(Boolean)) {
      let i = 0;
      while (i < entry.length && state.prefixOrder.includes(entry[i])) i++;
      const nick = entry.slice(i).split('!')[0];
      names.set(fold(nick), { nick, prefixes: entry.slice(0, i), away: false });
    }
    state.names.set(key, names);
  },
  '366': (m) => {
    const key = fold(m.params[1]);
    const b = state.buffers.get(key);
    if (b && b.kind === 'room') {
      b.members = state.names.get(key) || new Map();
      changed(b);
      // Who is away or a bot is not in NAMES: ask WHOX for the flags.
      if (state.whox && b.joined && !state.whoPending.has(key)) {
        state.whoPending.add(key);
        send('WHO', b.name, '%tcnf,' + WHO_TOKEN);
      }
    }
    state.names.delete(key);
  },
  '354': (m) => {
    const [, token, channel = '', nick = '', flags = ''] = m.params;
    const b = token === WHO_TOKEN && state.buffers.get(fold(channel));
    const member = b && b.members.get(fold(nick));
    if (!member) return;
    member.away = flags.startsWith('G');
    member.bot = flags.includes('B');
    changed(b);
  },
  '315': (m) => {
    if (!state.whoPending.delete(fold(m.params[1] || ''))) note('info', m.params.slice(1).join(' '));
  },
  JOIN: (m) => {
    const b = buffer(m.params[0], 'room');
    if (isMe(m.nick)) {
      b.joined = true;
      b.members.clear();
      b.joinedAt = m.tags.time || '';
      show(b, m);
      joined(b, m.tags.msgid || '');  // before select(), which would ask for older lines itself
      if (state.switchTo === b.key || !state.current || state.current.kind === 'server') select(b);
      if (state.switchTo === b.key) state.switchTo = '';
    } else {
      show(b, m);
    }
    b.members.set(fold(m.nick), { nick: m.nick, prefixes: '', away: false });
    changed(b);
  },
  PART: (m) => {
    const b = state.buffers.get(fold(m.params[0]));
    if (!b) return;
    if (isMe(m.nick)) { removeBuffer(b); return; }
    b.members.delete(fold(m.nick));
    show(b, m);
    changed(b);
  },
  KICK: (m) => {
    const b = buffer(m.params[0], 'room');
    const target = m.params[1];
    b.members.delete(fold(target));
    if (isMe(target)) {
      b.joined = false;
      b.members.clear();
    }
    show(b, m);
    changed(b);
  },
  QUIT: (m) => {
    for (const b of state.buffers.values()) {
      if (b.members.delete(fold(m.nick)) || b.key === fold(m.nick)) {
        show(b, m);
        changed(b);
      }
    }
  },
  NICK: (m) => {
    const [old, now] = [m.nick, m.params[0]];
    const mine = isMe(old);
    const line = describe(m, '');  // before our own nick changes
    if (mine) {
      state.nick = state.wanted = now;
      ui.myNick.textContent = now;
    }
    const query = state.buffers.get(fold(old));
    for (const b of state.buffers.values()) {
      const member = b.members.get(fold(old));
      if (member) {
        b.members.delete(fold(old));
        member.nick = now;
        b.members.set(fold(now), member);
      }
      if (member || b === query || (mine && b.kind === 'server')) {
        show(b, m, line);
        changed(b);
      }
    }
    if (query && query.kind === 'query') renameBuffer(query, now);
  },
  MODE: (m) => {
    const [target, modes = '', ...args] = m.params;
    if (!isChannel(target)) return;
    const b = buffer(target, 'room');
    let adding = true;
    for (const letter of modes) {
      if (letter === '+' || letter === '-') { adding = letter === '+'; continue; }
      const prefix = state.prefixes[letter];
      const takesArg = prefix || (state.argModes.includes(letter)
        && (adding || !state.setArgModes.includes(letter)));
      const arg = takesArg ? args.shift() : undefined;
      const member = prefix && arg !== undefined && b.members.get(fold(arg));
      if (!member) continue;
      const set = new Set(member.prefixes);
      if (adding) set.add(prefix); else set.delete(prefix);
      member.prefixes = [...state.prefixOrder].filter((p) => set.has(p)).join('');
    }
    show(b, m);
    changed(b);
  },
  TOPIC: (m) => {
    const b = buffer(m.params[0], 'room');
    b.topic = m.params[1] || '';
    show(b, m);
    changed(b);
  },
  AWAY: (m) => {
    for (const b of rooms()) {
      const member = b.members.get(fold(m.nick));
      if (member) { member.away = m.params.length > 0; changed(b); }
    }
  },
  // A message was removed: its lines (a long one may have several, id.1,
  // id.2...) leave the log, and the log says who removed it.
  REDACT: (m) => {
    const [target = '', msgid = '', reason = ''] = m.params;
    const b = state.buffers.get(fold(target));
    if (!b) return;
    for (const row of [...b.log.querySelectorAll('.line[data-msgid]')]) {
      const id = row.dataset.msgid;
      if (id === msgid || id.startsWith(msgid + '.')) row.remove();
    }
    addLine(b, 'info', `${m.nick} removed a message${reason ? ` (${reason})` : ''}`, '', timeOf(m));
  },
  RENAME: (m) => {
    const [old = '', now = '', reason = ''] = m.params;
    const b = state.buffers.get(fold(old));
    if (!b) return;
    renameBuffer(b, now);
    addLine(b, 'info', `${m.nick} renamed ${old} to ${now}${reason ? ` (${reason})` : ''}`, '', timeOf(m));
    changed(b);
  },
  MARKREAD: (m) => {
    const b = state.buffers.get(fold(m.params[0] || ''));
    if (b) readMarker(b, m.params[1] || '*');
  },
  PRIVMSG: (m) => message(m, false),
  NOTICE: (m) => message(m, true),
  BATCH: (m) => {
    const ref = m.params[0] || '';
    if (ref[0] === '+') {
      state.batches.set(ref.slice(1), { type: m.params[1] || '', params: m.params.slice(2), lines: [] });
    } else if (ref[0] === '-') {
      const batch = state.batches.get(ref.slice(1));
      state.batches.delete(ref.slice(1));
      if (batch) finishBatch(batch);
    }
  },
  FAIL: (m) => {
    const [command = '', code = ''] = m.params;
    const description = m.params.length > 2 ? m.params[m.params.length - 1] : code;
    if (command.toUpperCase() === 'REGISTER' && registerFailed(m)) return;
    if (command.toUpperCase() === 'CHATHISTORY') historyFailed(m);
    else if (command.toUpperCase() !== 'SEARCH' || !searchFailed(description)) note('error', description);
  },
};

// A line of a room or conversation, as the log shows it.
function show(b, m, line = describe(m, b.name)) {
  if (!line) return;
  const row = addLine(b, line.kind, line.text, line.nick, timeOf(m), m.tags.msgid, lineKey(m));
  // IRCv3 bot mode: whoever sent it says they are a bot.
  if (row && 'bot' in m.tags) markBot(row);
}

// A batch is complete: history and search results go to history.js; the
// lines of any other batch are handled as if they had come one by one.
function finishBatch(batch) {
  if (batch.type === 'chathistory') receiveHistory(batch.params[0] || '', batch.lines);
  else if (batch.type === 'soju.im/search') receiveSearch(batch.lines);
  else for (const m of batch.lines) receive(m);
}

function message(m, notice) {
  const target = m.params[0];
  const line = describe(m, target);
  if (!line) return;  // CTCP requests other than ACTION go unanswered
  const fromServer = !m.source.includes('!');
  if (fromServer && notice && tokenNotice(line.text)) return;  // an upload link
  let b;
  if (isChannel(target)) b = buffer(target, 'room');
  else if (fromServer) b = serverBuffer();
  else if (notice) b = state.current || serverBuffer();
  else b = buffer(isMe(m.nick) ? target : m.nick, 'query');
  // A member's messages say whether they are a bot now (IRCv3 bot tag).
  const member = b.kind === 'room' && b.members.get(fold(m.nick));
  if (member && !member.bot !== !('bot' in m.tags)) {
    member.bot = 'bot' in m.tags;
    changed(b);
  }
  show(b, m, line);
}

export function receive(m) {
  const batch = m.command !== 'BATCH' && m.tags.batch && state.batches.get(m.tags.batch);
  if (batch) {
    batch.lines.push(m);
    return;
  }
  const handler = handlers[m.command] || authHandlers[m.command];
  if (m.command === '421' && (m.params[1] || '').toUpperCase() === 'SEARCH'
      && searchFailed('this server has no search')) {
    return;
  }
  if (handler) {
    handler(m);
  } else if (/^\d{3}$/.test(m.command) && state.registered) {
    // Other replies: errors to the current tab, the welcome burst to the server tab.
    const code = Number(m.command);
    const subjects = m.params.slice(1, -1).join(' ');
    const last = m.params[m.params.length - 1];
    const text = code >= 400 && subjects ? `${subjects}: ${last}` : m.params.slice(1).join(' ');
    const welcome = code < 100 || (code >= 250 && code <= 266) || (code >= 372 && code <= 376) || code === 422;
    if (welcome) { if (code !== 4) addLine(serverBuffer(), 'info', last); }
    else note(code >= 400 ? 'error' : 'info', text);
  }
}
