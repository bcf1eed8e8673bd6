/*
 * chat.js: the chat page, a small IRC client of this server's /ws.
 *
 * It opens a WebSocket to /ws on the page's own host (wss: under https:)
 * with the text.ircv3.net subprotocol; each WebSocket text message is one
 * IRC line.  It registers with CAP LS 302 / CAP REQ / CAP END, NICK and
 * USER (asking for server-time, echo-message, multi-prefix, away-notify and
 * message-tags), then joins #lobby (or the room named in the URL's #hash).
 *
 * It keeps one "buffer" per room, per private conversation and one for the
 * server, each shown as a tab with its own log; a room's buffer also keeps
 * its members (following NAMES, JOIN, PART, QUIT, NICK, KICK and +o/+v
 * MODE) and its topic.  What users send is put in the page with
 * textContent and createElement only, never as HTML; IRC bold, italics and
 * underline become spans, colours and other control characters are dropped.
 *
 * The input takes text for the current tab and the commands /join, /part,
 * /msg, /query, /me, /topic, /nick, /away, /quit, /close, /quote and /help.
 * It answers the server's PINGs, and PINGs a server that has been silent
 * for a minute.  When the connection drops (or that PING goes unanswered),
 * it reconnects with a growing delay (0.5 s doubling up to 30 s), registers
 * the same nick again and rejoins its rooms, showing a "Reconnecting" bar
 * meanwhile.
 */
'use strict';
(function () {
  const WANTED_CAPS = ['server-time', 'echo-message', 'multi-prefix', 'away-notify', 'message-tags'];
  const SERVER_KEY = '*server';
  const NICK_COLOURS = 8;
  const MAX_LINES = 1000;
  const CHUNK_BYTES = 400;
  // After a minute of silence the page PINGs the server, and gives up on a
  // connection that has not answered 20 s after that (a vanished host sends
  // no close).
  const KEEPALIVE = 60000;
  const PATIENCE = 20000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    login: $('login'), loginForm: $('login-form'), loginNick: $('login-nick'),
    loginError: $('login-error'), chat: $('chat'), tabs: $('tabs'), joinForm: $('join-form'),
    joinRoom: $('join-room'), membersToggle: $('members-toggle'), status: $('status'),
    statusText: $('status-text'), reconnectNow: $('reconnect-now'), topic: $('topic'),
    logs: $('logs'), membersTitle: $('members-title'), memberList: $('member-list'),
    inputForm: $('input-form'), input: $('input'), myNick: $('my-nick'),
  };

  const state = {
    socket: null, nick: '', wanted: '', registered: false, everRegistered: false,
    quitting: false, closeReason: '', caps: new Set(), offered: [], attempts: 0, timer: 0,
    heard: 0, pinged: 0,
    prefixes: { o: '@', v: '+' }, prefixOrder: '@+', argModes: 'bkl', setArgModes: 'l',
    buffers: new Map(), current: null, switchTo: '', names: new Map(),
  };

  // Names and helpers

  // IRC's rfc1459 case mapping: []\~ are the upper case of {}|^.
  const FOLD = { '[': '{', ']': '}', '\\': '|', '~': '^' };
  const fold = (name) => name.toLowerCase().replace(/[[\]\\~]/g, (c) => FOLD[c]);
  const isChannel = (name) => /^[#&]/.test(name);
  const isMe = (nick) => fold(nick) === fold(state.nick);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function colour(nick) {
    let hash = 0;
    for (const c of fold(nick)) hash = (hash * 31 + c.charCodeAt(0)) | 0;
    return 'c' + (Math.abs(hash) % NICK_COLOURS);
  }

  // The IRC wire

  function unescapeTag(value) {
    return value.replace(/\\(.?)/g, (_, c) => ({ ':': ';', s: ' ', r: '\r', n: '\n' }[c] ?? c));
  }

  function parse(line) {
    const msg = { tags: {}, source: '', nick: '', command: '', params: [] };
    let rest = line;
    if (rest[0] === '@') {
      const space = rest.indexOf(' ');
      for (const pair of rest.slice(1, space).split(';')) {
        const eq = pair.indexOf('=');
        if (eq < 0) msg.tags[pair] = '';
        else msg.tags[pair.slice(0, eq)] = unescapeTag(pair.slice(eq + 1));
      }
      rest = rest.slice(space + 1).replace(/^ +/, '');
    }
    if (rest[0] === ':') {
      const space = rest.indexOf(' ');
      msg.source = rest.slice(1, space);
      msg.nick = msg.source.split('!')[0];
      rest = rest.slice(space + 1).replace(/^ +/, '');
    }
    let trailing = null;
    const colon = rest.indexOf(' :');
    if (colon >= 0) {
      trailing = rest.slice(colon + 2);
      rest = rest.slice(0, colon);
    }
    const words = rest.split(' ').filter(Boolean);
    msg.command = (words.shift() || '').toUpperCase();
    msg.params = trailing === null ? words : words.concat([trailing]);
    return msg;
  }

  function send(command, ...params) {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    let line = command;
    params.forEach((param, i) => {
      const p = String(param).replace(/[\r\n\0]+/g, ' ');
      const last = i === params.length - 1;
      line += (last && (p === '' || p.includes(' ') || p[0] === ':')) ? ' :' + p : ' ' + p;
    });
    socket.send(line);
    return true;
  }

  // Cut text into pieces that each fit one IRC line, on character boundaries.
  function chunks(text) {
    const encoder = new TextEncoder();
    const pieces = [];
    let piece = '', size = 0;
    for (const c of text) {
      const n = encoder.encode(c).length;
      if (size + n > CHUNK_BYTES) { pieces.push(piece); piece = ''; size = 0; }
      piece += c;
      size += n;
    }
    if (piece) pieces.push(piece);
    return pieces;
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

  function formatted(text) {
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

  function buffer(name, kind) {
    const key = kind === 'server' ? SERVER_KEY : fold(name);
    let b = state.buffers.get(key);
    if (b) return b;
    b = { key, name, kind, joined: false, topic: '', members: new Map(), log: el('div', 'log') };
    b.log.setAttribute('role', 'log');
    b.log.hidden = true;
    b.tab = el('div', 'tab');
    b.tabName = el('button', 'tab-name', kind === 'server' ? 'server' : name);
    b.tabName.type = 'button';
    b.tabName.addEventListener('click', () => select(b));
    b.tab.append(b.tabName);
    if (kind !== 'server') {
      const close = el('button', 'tab-close', '\u00d7');
      close.type = 'button';
      close.setAttribute('aria-label', kind === 'room' ? 'Leave ' + name : 'Close ' + name);
      close.addEventListener('click', () => closeBuffer(b));
      b.tab.append(close);
    }
    state.buffers.set(key, b);
    ui.tabs.append(b.tab);
    ui.logs.append(b.log);
    return b;
  }

  const serverBuffer = () => buffer('server', 'server');

  function select(b) {
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
  }

  function closeBuffer(b) {
    if (b.kind === 'room' && b.joined && state.registered) {
      send('PART', b.name);  // the buffer goes when the server confirms
      return;
    }
    removeBuffer(b);
  }

  function removeBuffer(b) {
    b.tab.remove();
    b.log.remove();
    state.buffers.delete(b.key);
    if (state.current === b) {
      const rest = [...state.buffers.values()];
      select(rest.find((x) => x.kind !== 'server') || serverBuffer());
    }
  }

  function renameBuffer(b, name) {
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
      const li = el('li', m.away ? 'member away' : 'member');
      const button = el('button', 'nick ' + colour(m.nick));
      button.type = 'button';
      button.title = isMe(m.nick) ? 'You' : 'Talk privately with ' + m.nick;
      button.append(el('span', 'prefix', m.prefixes.slice(0, 1)), m.nick);
      button.addEventListener('click', () => { if (!isMe(m.nick)) select(buffer(m.nick, 'query')); });
      li.append(button);
      ui.memberList.append(li);
    }
  }

  function changed(b) {
    if (b === state.current) { showTopic(); showMembers(); }
  }

  // Lines in a buffer's log. kind: msg, action, notice, event, info or error.
  function addLine(b, kind, text, nick, when) {
    when = when instanceof Date && !isNaN(when) ? when : new Date();
    const log = b.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const row = el('div', 'line ' + kind);
    const time = el('time', 'time', when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    time.dateTime = when.toISOString();
    time.title = when.toLocaleString();
    row.append(time);
    if (nick) {
      const shown = kind === 'action' ? '* ' + nick : kind === 'notice' ? '-' + nick + '-' : nick;
      row.append(el('span', 'nick ' + colour(nick), shown));
    }
    row.append(formatted(text));
    log.append(row);
    while (log.childElementCount > MAX_LINES) log.firstElementChild.remove();
    if (atBottom || b !== state.current) log.scrollTop = log.scrollHeight;
    if (b !== state.current && nick && !isMe(nick)) {
      b.tab.classList.add('unread');
      if (b.kind === 'query' || mentions(text)) b.tab.classList.add('mention');
    }
  }

  function mentions(text) {
    const nick = state.nick.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return nick !== '' && new RegExp('(^|\\W)' + nick + '(\\W|$)', 'i').test(text);
  }

  const note = (kind, text) => addLine(state.current || serverBuffer(), kind, text);
  const rooms = () => [...state.buffers.values()].filter((b) => b.kind === 'room');
  const timeOf = (msg) => (msg.tags.time ? new Date(msg.tags.time) : new Date());

  // Connecting, and reconnecting when the connection is lost

  function connect() {
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
      for (const line of String(event.data).split(/\r?\n/)) if (line) receive(parse(line));
    };
    socket.onclose = () => { if (socket === state.socket) disconnected(); };
  }

  function disconnected() {
    const wasRegistered = state.registered;
    state.socket = null;
    state.registered = false;
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

  function keepAlive() {
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

  function reconnect() {
    clearTimeout(state.timer);
    if (state.socket) return;
    state.quitting = false;
    showStatus('Reconnecting\u2026', 'Reconnect now');
    connect();
  }

  function showStatus(text, button) {
    ui.status.hidden = !text;
    document.body.classList.toggle('offline', !!text);
    ui.statusText.textContent = text;
    ui.reconnectNow.textContent = button || '';
  }

  function showLogin(error) {
    ui.chat.hidden = true;
    ui.login.hidden = false;
    ui.loginError.hidden = !error;
    ui.loginError.textContent = error || '';
    ui.loginNick.focus();
    ui.loginNick.select();
  }

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

  // What the server says

  const handlers = {
    PING: (m) => send('PONG', ...m.params),
    ERROR: (m) => { state.closeReason = m.params[0] || ''; },
    CAP: (m) => {
      const sub = (m.params[1] || '').toUpperCase();
      const more = m.params[2] === '*';
      if (sub === 'LS') {
        state.offered.push(...m.params[more ? 3 : 2].split(' ').map((c) => c.split('=')[0]));
        if (more) return;
        const wanted = WANTED_CAPS.filter((c) => state.offered.includes(c));
        if (wanted.length) send('CAP', 'REQ', wanted.join(' '));
        else send('CAP', 'END');
      } else if (sub === 'ACK' || sub === 'NAK') {
        if (sub === 'ACK') for (const c of m.params[2].split(' ')) state.caps.add(c);
        if (!state.registered) send('CAP', 'END');
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
      if (first) {
        const room = /^#[^\s,]+$/.test(decodeURIComponent(location.hash))
          ? decodeURIComponent(location.hash) : '#lobby';
        state.switchTo = fold(room);
        select(serverBuffer());
        send('JOIN', room);
      } else {
        for (const b of rooms()) if (b.joined) send('JOIN', b.name);
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
      }
      state.names.delete(key);
    },
    JOIN: (m) => {
      const b = buffer(m.params[0], 'room');
      if (isMe(m.nick)) {
        b.joined = true;
        b.members.clear();
        addLine(b, 'event', 'You joined ' + b.name, '', timeOf(m));
        if (state.switchTo === b.key || !state.current || state.current.kind === 'server') select(b);
        if (state.switchTo === b.key) state.switchTo = '';
      } else {
        addLine(b, 'event', `\u2192 ${m.nick} joined ${b.name}`, '', timeOf(m));
      }
      b.members.set(fold(m.nick), { nick: m.nick, prefixes: '', away: false });
      changed(b);
    },
    PART: (m) => {
      const b = state.buffers.get(fold(m.params[0]));
      if (!b) return;
      if (isMe(m.nick)) { removeBuffer(b); return; }
      b.members.delete(fold(m.nick));
      addLine(b, 'event', `\u2190 ${m.nick} left ${b.name}` + (m.params[1] ? ` (${m.params[1]})` : ''),
        '', timeOf(m));
      changed(b);
    },
    KICK: (m) => {
      const b = buffer(m.params[0], 'room');
      const [target, reason] = [m.params[1], m.params[2] || ''];
      b.members.delete(fold(target));
      if (isMe(target)) {
        b.joined = false;
        b.members.clear();
      }
      addLine(b, isMe(target) ? 'error' : 'event', `${isMe(target) ? 'You were' : target + ' was'} kicked`
        + ` from ${b.name} by ${m.nick}` + (reason ? ` (${reason})` : ''), '', timeOf(m));
      changed(b);
    },
    QUIT: (m) => {
      const text = `\u2190 ${m.nick} quit` + (m.params[0] ? ` (${m.params[0]})` : '');
      for (const b of state.buffers.values()) {
        if (b.members.delete(fold(m.nick)) || b.key === fold(m.nick)) {
          addLine(b, 'event', text, '', timeOf(m));
          changed(b);
        }
      }
    },
    NICK: (m) => {
      const [old, now] = [m.nick, m.params[0]];
      const mine = isMe(old);
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
          addLine(b, 'event', mine ? `You are now known as ${now}` : `${old} is now known as ${now}`,
            '', timeOf(m));
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
      addLine(b, 'event', `${m.nick} sets mode ${m.params.slice(1).join(' ')}`, '', timeOf(m));
      changed(b);
    },
    TOPIC: (m) => {
      const b = buffer(m.params[0], 'room');
      b.topic = m.params[1] || '';
      addLine(b, 'event', b.topic ? `${m.nick} changed the topic to: ${b.topic}`
        : `${m.nick} cleared the topic`, '', timeOf(m));
      changed(b);
    },
    AWAY: (m) => {
      for (const b of rooms()) {
        const member = b.members.get(fold(m.nick));
        if (member) { member.away = m.params.length > 0; changed(b); }
      }
    },
    PRIVMSG: (m) => message(m, false),
    NOTICE: (m) => message(m, true),
  };

  function message(m, notice) {
    const [target, text = ''] = m.params;
    const ctcp = /^\x01([^\s\x01]+) ?([^\x01]*)\x01?$/.exec(text);
    if (ctcp && ctcp[1].toUpperCase() !== 'ACTION') return;  // other CTCP requests go unanswered
    const fromServer = !m.source.includes('!');
    let b;
    if (isChannel(target)) b = buffer(target, 'room');
    else if (fromServer) b = serverBuffer();
    else if (notice) b = state.current || serverBuffer();
    else b = buffer(isMe(m.nick) ? target : m.nick, 'query');
    addLine(b, ctcp ? 'action' : notice ? 'notice' : 'msg', ctcp ? ctcp[2] : text, m.nick, timeOf(m));
  }

  function receive(m) {
    const handler = handlers[m.command];
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

  // What the user types

  function say(b, text, action) {
    if (b.kind === 'server') {
      note('error', 'This is the server tab: join a room with /join #room, or talk to someone with /msg nick text.');
    } else if (!state.registered) {
      note('error', 'Not connected; the message was not sent.');
    } else {
      for (const piece of chunks(text)) {
        send('PRIVMSG', b.name, action ? `\x01ACTION ${piece}\x01` : piece);
        if (!state.caps.has('echo-message')) addLine(b, action ? 'action' : 'msg', piece, state.nick);
      }
    }
  }

  function splitFirst(text) {
    const m = /^(\S*)\s*(.*)$/.exec(text.trim());
    return [m[1], m[2]];
  }

  const currentRoom = () => (state.current.kind === 'room' ? state.current.name : '');

  const commands = {
    help: () => {
      for (const line of ['/join #room', '/part [#room] [reason]', '/msg nick text', '/query nick',
        '/me action', '/topic [new topic]', '/nick newnick', '/away [message]', '/quit [reason]',
        '/close', '/quote RAW IRC LINE', '//text sends a line starting with /']) note('info', line);
    },
    join: (args) => {
      let [room, key] = args.trim().split(/\s+/);
      if (!room) return note('error', 'Usage: /join #room');
      if (!isChannel(room)) room = '#' + room;
      const b = state.buffers.get(fold(room));
      if (b && b.joined) return select(b);
      state.switchTo = fold(room);
      if (key) send('JOIN', room, key); else send('JOIN', room);
    },
    part: (args) => {
      let [room, reason] = splitFirst(args);
      if (!isChannel(room)) { reason = args.trim(); room = currentRoom(); }
      if (!room) return note('error', 'Usage: /part #room [reason]');
      if (reason) send('PART', room, reason); else send('PART', room);
    },
    msg: (args) => {
      const [nick, text] = splitFirst(args);
      if (!nick || !text) return note('error', 'Usage: /msg nick text');
      const b = buffer(nick, isChannel(nick) ? 'room' : 'query');
      select(b);
      say(b, text);
    },
    query: (args) => {
      const [nick] = splitFirst(args);
      if (!nick || isChannel(nick)) return note('error', 'Usage: /query nick');
      select(buffer(nick, 'query'));
    },
    me: (args) => (args.trim() ? say(state.current, args.trim(), true) : note('error', 'Usage: /me action')),
    topic: (args) => {
      const room = currentRoom();
      if (!room) return note('error', '/topic works in a room');
      if (args.trim()) send('TOPIC', room, args.trim()); else send('TOPIC', room);
    },
    nick: (args) => {
      const [nick] = splitFirst(args);
      if (!nick) return note('error', 'Usage: /nick newnick');
      send('NICK', nick);
    },
    away: (args) => (args.trim() ? send('AWAY', args.trim()) : send('AWAY')),
    quit: (args) => {
      state.quitting = true;
      clearTimeout(state.timer);
      if (!send('QUIT', args.trim() || 'Leaving')) showStatus('You have left the chat.', 'Connect again');
    },
    close: () => (state.current.kind === 'server' ? note('error', 'The server tab stays open')
      : closeBuffer(state.current)),
    quote: (args) => { if (args.trim()) state.socket.send(args.trim().replace(/[\r\n\0]+/g, ' ')); },
  };
  commands.j = commands.join;
  commands.leave = commands.part;
  commands.raw = commands.quote;

  const OFFLINE_COMMANDS = ['help', 'close', 'query', 'quit'];

  function submit(text) {
    if (!text.trim()) return;
    if (text.startsWith('/') && !text.startsWith('//')) {
      const [name, args] = [text.slice(1).split(/\s/, 1)[0].toLowerCase(), text.slice(1).replace(/^\S*\s?/, '')];
      const command = Object.prototype.hasOwnProperty.call(commands, name) && commands[name];
      if (!command) return note('error', `Unknown command /${name}; /help lists the commands.`);
      if (!OFFLINE_COMMANDS.includes(name) && !state.registered) {
        return note('error', 'Not connected; try again when the connection is back.');
      }
      return command(args);
    }
    say(state.current, text.startsWith('//') ? text.slice(1) : text);
  }

  // Wiring the page

  ui.loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const nick = ui.loginNick.value.trim();
    if (!nick) return;
    state.wanted = nick;
    ui.loginError.hidden = true;
    if (state.socket && state.socket.readyState === WebSocket.OPEN && !state.registered) send('NICK', nick);
    else if (!state.socket) connect();
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
  ui.reconnectNow.addEventListener('click', reconnect);
  setInterval(keepAlive, 5000);
  window.addEventListener('online', () => { if (state.everRegistered && !state.socket && !state.quitting) reconnect(); });
  try { ui.loginNick.value = localStorage.getItem('chat.nick') || ''; } catch (e) { /* private mode */ }
  select(serverBuffer());
})();
