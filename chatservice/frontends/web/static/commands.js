/*
 * commands.js: what the user types.  Text for the current tab, and the
 * commands /join, /part, /msg, /query, /me, /topic, /nick, /away, /quit,
 * /close, /quote, /tokens (NickServ's TOKENS: the account's remembered
 * logins), /logout and /help.
 */
import { chunks, fold, isChannel } from './irc.js';
import { send, sendRaw } from './connection.js';
import { logOut } from './login.js';
import { addLine, buffer, note, removeBuffer, select, showStatus } from './render.js';
import { state } from './state.js';

export function closeBuffer(b) {
  if (b.kind === 'room' && b.joined && state.registered) {
    send('PART', b.name);  // the buffer goes when the server confirms
    return;
  }
  removeBuffer(b);
}

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
      '/close', '/tokens [list | revoke ID | revoke all]', '/logout', '/quote RAW IRC LINE',
      '//text sends a line starting with /']) note('info', line);
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
  tokens: (args) => send('NICKSERV', 'TOKENS', ...args.trim().split(/\s+/).filter(Boolean)),
  logout: () => logOut(),
  close: () => (state.current.kind === 'server' ? note('error', 'The server tab stays open')
    : closeBuffer(state.current)),
  quote: (args) => { if (args.trim()) sendRaw(args.trim().replace(/[\r\n\0]+/g, ' ')); },
};
commands.j = commands.join;
commands.leave = commands.part;
commands.raw = commands.quote;

const OFFLINE_COMMANDS = ['help', 'close', 'query', 'quit'];

export function submit(text) {
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
