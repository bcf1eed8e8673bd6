/*
 * events.js: how a message or a room event reads in a log, the same for a
 * live line and for one replayed from history (draft/event-playback).
 */
import { isMe } from './state.js';

const CTCP = /^\x01([^\s\x01]+) ?([^\x01]*)\x01?$/;

/*
 * What line C{m} (a parsed PRIVMSG, NOTICE, JOIN, PART, KICK, QUIT, NICK,
 * MODE or TOPIC) shows in the log of C{room}: { kind, text, nick }, or null
 * for what is not shown (CTCP requests other than ACTION, other commands).
 */
export function describe(m, room) {
  const p = m.params;
  switch (m.command) {
    case 'PRIVMSG':
    case 'NOTICE': {
      const text = p[1] ?? '';
      const ctcp = CTCP.exec(text);
      if (ctcp && ctcp[1].toUpperCase() !== 'ACTION') return null;
      const kind = ctcp ? 'action' : m.command === 'NOTICE' ? 'notice' : 'msg';
      return { kind, text: ctcp ? ctcp[2] : text, nick: m.nick };
    }
    case 'JOIN':
      return event(isMe(m.nick) ? 'You joined ' + room : `\u2192 ${m.nick} joined ${room}`);
    case 'PART':
      return event(`\u2190 ${m.nick} left ${room}` + (p[1] ? ` (${p[1]})` : ''));
    case 'KICK': {
      const [target, reason] = [p[1] || '', p[2] || ''];
      return {
        kind: isMe(target) ? 'error' : 'event', nick: '',
        text: `${isMe(target) ? 'You were' : target + ' was'} kicked from ${room} by ${m.nick}`
          + (reason ? ` (${reason})` : ''),
      };
    }
    case 'QUIT':
      return event(`\u2190 ${m.nick} quit` + (p[0] ? ` (${p[0]})` : ''));
    case 'NICK':
      return event(isMe(m.nick) ? `You are now known as ${p[0]}` : `${m.nick} is now known as ${p[0]}`);
    case 'MODE':
      return event(`${m.nick} sets mode ${p.slice(1).join(' ')}`);
    case 'TOPIC':
      return event(p[1] ? `${m.nick} changed the topic to: ${p[1]}` : `${m.nick} cleared the topic`);
    default:
      return null;
  }
}

/*
 * What keeps a line from being shown twice: its msgid, or for an event the
 * server gives no msgid (a join, a part...) its time, source and words.
 */
export const lineKey = (m) => m.tags.msgid
  || (m.tags.time ? ['', m.tags.time, m.source, m.command, ...m.params].join(' ') : '');

const event = (text) => ({ kind: 'event', text, nick: '' });
