/*
 * files.js: sharing files from the page.  The attach button, dropping files
 * on the chat and pasting an image into the message box each upload to the
 * current room or private conversation:
 *
 *  1. the page asks for a single-use upload token over its IRC session
 *     (UPLOAD <target>); the server answers a NOTICE with the upload URL,
 *     which the page takes (and does not show);
 *  2. it POSTs the file there (raw body, Content-Disposition with its
 *     name), showing a progress bar;
 *  3. the server announces the file in the room for everyone, the page
 *     included, which shows it as a card (cards.js).
 *
 * One upload at a time; files chosen meanwhile wait their turn.
 */
import { send } from './connection.js';
import { cardHooks, check } from './cards.js';
import { addLine, note } from './render.js';
import { state } from './state.js';

const TOKEN_NOTICE = /^Upload one file .*?(https?:\/\/\S+\/upload\/[\w-]+)\/?$/;
const TOKEN_WAIT = 10000;

const $ = (id) => document.getElementById(id);
const ui = {
  attach: $('attach'), picker: $('file-picker'), progress: $('upload-progress'),
  bar: $('upload-bar'), label: $('upload-label'), drop: $('drop-hint'), chat: $('chat'),
  input: $('input'),
};

const queue = [];
const waiting = [];  // resolvers of the UPLOAD requests waiting for their NOTICE
let busy = false;

/* A server NOTICE: the answer to UPLOAD is taken here (true), not shown. */
export function tokenNotice(text) {
  const m = TOKEN_NOTICE.exec(text);
  if (!m || !waiting.length) return false;
  waiting.shift()(m[1]);
  return true;
}

function askToken(target) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const i = waiting.indexOf(done);
      if (i >= 0) waiting.splice(i, 1);
      reject(new Error('the server did not give an upload link'));
    }, TOKEN_WAIT);
    const done = (url) => { clearTimeout(timer); resolve(url); };
    waiting.push(done);
    send('UPLOAD', target);
  });
}

function post(url, file, where) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', new URL(url).pathname);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.setRequestHeader('Content-Disposition',
      "attachment; filename*=UTF-8''" + encodeURIComponent(file.name || 'file'));
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) ui.bar.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 201) resolve();
      else reject(new Error(xhr.responseText.trim() || `the server answered ${xhr.status}`));
    });
    xhr.addEventListener('error', () => reject(new Error('the connection failed')));
    ui.label.textContent = `Sending ${file.name || 'file'} to ${where}`;
    ui.bar.value = 0;
    ui.progress.hidden = false;
    xhr.send(file);
  });
}

async function next() {
  if (busy || !queue.length) return;
  busy = true;
  const { file, b } = queue.shift();
  try {
    const url = await askToken(b.name);
    await post(url, file, b.name);
  } catch (problem) {
    addLine(b, 'error', `${file.name || 'The file'} was not shared: ${problem.message}`);
  } finally {
    ui.progress.hidden = true;
    busy = false;
    next();
  }
}

export function share(files) {
  const b = state.current;
  if (!b || b.kind === 'server') {
    note('error', 'Open a room or a private conversation to share a file there.');
    return;
  }
  if (!state.registered) {
    note('error', 'Not connected; the file was not sent.');
    return;
  }
  for (const file of files) queue.push({ file, b });
  next();
}

cardHooks.remove = (card) => {
  send('DELETEFILE', card.dataset.link);
  setTimeout(() => check(card, 'deleted'), 500);
};

ui.attach.addEventListener('click', () => ui.picker.click());
ui.picker.addEventListener('change', () => {
  share([...ui.picker.files]);
  ui.picker.value = '';
});

const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
ui.chat.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  ui.drop.hidden = false;
});
ui.chat.addEventListener('dragleave', (event) => {
  if (!ui.chat.contains(event.relatedTarget)) ui.drop.hidden = true;
});
ui.chat.addEventListener('drop', (event) => {
  ui.drop.hidden = true;
  if (!carriesFiles(event)) return;
  event.preventDefault();
  share([...event.dataTransfer.files]);
});
ui.input.addEventListener('paste', (event) => {
  const files = [...(event.clipboardData?.files || [])];
  if (!files.length) return;
  event.preventDefault();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  share(files.map((file) => (file.name && file.name !== 'image.png' ? file
    : new File([file], `pasted-${stamp}.${(file.type.split('/')[1] || 'png')}`, { type: file.type }))));
});
