/*
 * days.js: which messages start a new day, in the browser's time zone.
 * Pure functions with no DOM, so that tests can call them directly.
 */

// The local calendar day of a Date, as YYYY-MM-DD.
export function dayKey(when) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
}

// The indexes of the times (Dates, in order) that fall on another local day
// than the time before them: where a day separator goes.
export function dayBreaks(times) {
  const breaks = [];
  for (let i = 1; i < times.length; i++) {
    if (dayKey(times[i]) !== dayKey(times[i - 1])) breaks.push(i);
  }
  return breaks;
}

// How a day separator names its day, e.g. "Tuesday, 3 March 2026".
export function dayLabel(when) {
  return when.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}
