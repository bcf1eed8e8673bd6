/*
 * irc.js: the IRC wire, with no DOM and no state: names and their case
 * mapping, parsing a line (tags, source, command, parameters), writing one,
 * and cutting long text into pieces that each fit a line.
 */

export const CHUNK_BYTES = 400;

// IRC's rfc1459 case mapping: []\~ are the upper case of {}|^.
const FOLD = { '[': '{', ']': '}', '\\': '|', '~': '^' };
export const fold = (name) => name.toLowerCase().replace(/[[\]\\~]/g, (c) => FOLD[c]);
export const isChannel = (name) => /^[#&]/.test(name);

export function unescapeTag(value) {
  return value.replace(/\\(.?)/g, (_, c) => ({ ':': ';', s: ' ', r: '\r', n: '\n' }[c] ?? c));
}

// A tag value (or a tag-like attribute, as SEARCH takes) escaped for the wire.
export function escapeTag(value) {
  return String(value).replace(/[\\; \r\n]/g,
    (c) => ({ '\\': '\\\\', ';': '\\:', ' ': '\\s', '\r': '\\r', '\n': '\\n' }[c]));
}

export function parse(line) {
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

// One IRC line (without its ending); the last parameter gets a colon when it needs one.
export function format(command, ...params) {
  let line = command;
  params.forEach((param, i) => {
    const p = String(param).replace(/[\r\n\0]+/g, ' ');
    const last = i === params.length - 1;
    line += (last && (p === '' || p.includes(' ') || p[0] === ':')) ? ' :' + p : ' ' + p;
  });
  return line;
}

// Cut text into pieces that each fit one IRC line, on character boundaries.
export function chunks(text) {
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
