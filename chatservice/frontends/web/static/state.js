/*
 * state.js: what the page knows about its connection, rooms and people.
 *
 * One "buffer" per room, per private conversation and one for the server
 * (made and shown by render.js); a room's buffer keeps its members (a Map
 * from folded nick to { nick, prefixes, away, bot }) and its topic.
 */
import { fold } from './irc.js';

export const SERVER_KEY = '*server';

export const state = {
  socket: null, nick: '', wanted: '', registered: false, everRegistered: false,
  quitting: false, closeReason: '', caps: new Set(), offered: [], attempts: 0, timer: 0,
  heard: 0, pinged: 0,
  prefixes: { o: '@', v: '+' }, prefixOrder: '@+', argModes: 'bkl', setArgModes: 'l',
  buffers: new Map(), current: null, switchTo: '', names: new Map(),
  // Batches being received, by reference; the most a CHATHISTORY request may
  // ask for (ISUPPORT CHATHISTORY, 0: no limit); the search waiting for results.
  batches: new Map(), historyMax: 0, search: null,
  // Whether the server has WHOX, and the rooms whose WHO answer is awaited.
  whox: false, whoPending: new Set(),
};

export const isMe = (nick) => fold(nick) === fold(state.nick);
export const rooms = () => [...state.buffers.values()].filter((b) => b.kind === 'room');
