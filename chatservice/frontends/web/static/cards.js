/*
 * cards.js: a shared file as the page shows it.  The server announces a
 * file as an action, "shared NAME (SIZE): LINK", the same live and in
 * history; the page shows that line as a card with the file's name, its
 * size, a download link, an inline preview for images, and a Delete button
 * on the uploader's own cards.  A card whose link answers 410 (expired or
 * deleted) or 404 says so and loses its link.
 *
 * Links are followed on the page's own origin (their path only), so that
 * the page's content security policy ('self') lets the preview load.
 */

const SHARED = /^shared (.+) \(([\d.]+ (?:bytes?|kB|MB|GB|TB))\): (https?:\/\/\S+\/files\/([\w-]+)\/\S*)$/;
const IMAGE = /\.(png|jpe?g|gif|webp)$/i;

// What the page does when Delete is pressed (files.js).
export const cardHooks = { remove: () => {} };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function localPath(link) {
  try {
    const url = new URL(link);
    return url.pathname;
  } catch (e) {
    return '';
  }
}

function markGone(card, why) {
  card.classList.add('gone');
  const link = card.querySelector('a.file-name');
  if (link) link.replaceWith(el('span', 'file-name', link.textContent));
  for (const node of card.querySelectorAll('.file-preview, .file-delete')) node.remove();
  card.querySelector('.file-state').textContent = why;
}

// Ask whether the file is still there; mark the card if not (410: as
// C{gone}, "expired" unless this page deleted it).
export function check(card, gone = 'expired') {
  fetch(card.dataset.path, { method: 'HEAD', cache: 'no-store' }).then((response) => {
    if (response.status === 410) markGone(card, gone);
    else if (response.status === 404) markGone(card, 'no longer shared');
  }).catch(() => {});
}

/*
 * The card for an action's text, or null when the text is not a file's
 * announcement.  mine: whether the person who shared it is this page's user.
 */
export function fileCard(text, mine) {
  const m = SHARED.exec(text);
  if (!m) return null;
  const [, name, size, link, id] = m;
  const path = localPath(link);
  if (!path) return null;
  const card = el('span', 'file-card');
  card.dataset.path = path;
  card.dataset.link = link;
  card.dataset.file = id;
  card.append(el('span', 'file-verb', 'shared '));
  const a = el('a', 'file-name', name);
  a.href = path;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  if (!IMAGE.test(name)) a.download = name;
  card.append(a, el('span', 'file-size', ' (' + size + ')'), el('span', 'file-state', ''));
  if (mine) {
    const remove = el('button', 'file-delete', 'Delete');
    remove.type = 'button';
    remove.title = 'Delete this file for everyone';
    remove.addEventListener('click', () => cardHooks.remove(card));
    card.append(remove);
  }
  if (IMAGE.test(name)) {
    const img = el('img', 'file-preview');
    img.alt = name;
    img.loading = 'lazy';
    img.addEventListener('error', () => { img.remove(); check(card); });
    img.src = path;
    const preview = el('a', 'file-preview');
    preview.href = path;
    preview.target = '_blank';
    preview.rel = 'noopener noreferrer';
    preview.append(img);
    card.append(preview);
  } else {
    check(card);
  }
  return card;
}
