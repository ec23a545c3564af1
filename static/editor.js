// The caption editor's tools (web/templates/editor.html): play a cue, take its start or end
// from the playhead by key, split and merge cues, find and replace, undo. Every tool edits the
// server's own form fields, so Save posts the same form with or without this script.

import { cueClock } from "./player/time-format.js";
import { cueRows, fieldOf, renumber, rowState, setRowState, freshRow } from "./editor/rows.js";

const root = document.getElementById("amps-editor");
const form = document.getElementById("amps-editor-form");
const list = form && form.querySelector(".amps-cue-list");
const media = document.getElementById("amps-editor-media");
const live = document.getElementById("amps-editor-live");
const { strings, lang } = JSON.parse(document.querySelector(".amps-editor-strings").textContent);
const say = (key, values = {}) => strings[key].replace(/\{(\w+)\}/g, (_, name) => values[name]);
const TIME = /^(?:(?:(\d{1,6}):)?(\d{1,2}):)?(\d{1,6})(?:[.,](\d{1,3}))?$/;
const UNDO_LEVELS = 100;

/** Seconds from `0:01.250`, `1:02:03.5`, `75.25` (app/media/cue_edits.py's rule); NaN if not. */
function parseTime(text) {
  const m = TIME.exec(text.trim());
  if (!m || (m[2] !== undefined && +m[3] > 59) || (m[1] !== undefined && +m[2] > 59)) return NaN;
  const millis = m[4] ? +m[4].padEnd(3, "0") : 0;
  return ((+(m[1] || 0) * 60 + +(m[2] || 0)) * 60 + +m[3]) + millis / 1000;
}

let timer = 0;
/** Say it in the polite live region (emptied first, so the same words are said again). */
function announce(text) {
  live.textContent = "";
  clearTimeout(timer);
  timer = setTimeout(() => (live.textContent = text), 60);
}

// --- undo ------------------------------------------------------------------------------------

const history = [];
const reviewed = document.getElementById("amps-reviewed");
const snapshot = () => ({ rows: cueRows(list).map(rowState), reviewed: reviewed.checked });

function remember(state, label) {
  history.push({ state, label });
  if (history.length > UNDO_LEVELS) history.shift();
}

function restore(state) {
  const rows = cueRows(list);
  while (rows.length > state.rows.length) rows.pop().remove();
  while (rows.length < state.rows.length) rows.push(list.appendChild(freshRow(list)));
  rows.forEach((row, i) => setRowState(row, state.rows[i]));
  reviewed.checked = state.reviewed;
  renumber(list, say);
  refreshPreview();
}

function undo() {
  const last = history.pop();
  if (!last) return announce(say("editor_said_no_undo"));
  const had = document.activeElement;
  restore(last.state);
  if (!had || !document.body.contains(had)) document.getElementById("amps-undo").focus();
  before = snapshot();
  announce(say("editor_said_undone", { what: last.label }));
}

/** A change made by a tool: remembered for undo, then announced. */
function change(label, work) {
  const state = snapshot();
  work();
  remember(state, label);
  before = snapshot();
  renumber(list, say);
  refreshPreview();
  announce(label);
}

// Typing: the state before a field was changed is remembered when the change is committed.
let before = null;
form.addEventListener("focusin", () => (before = snapshot()));
form.addEventListener("change", (event) => {
  const row = event.target.closest("[data-cue]");
  const label = row ? row.querySelector("[data-legend]").textContent : event.target.labels?.[0]?.textContent;
  if (before) remember(before, label || "");
  before = snapshot();
  refreshPreview();
});

// --- the media and its preview track ---------------------------------------------------------

const now = document.getElementById("amps-editor-now");
let stopAt = Infinity;
let preview = null;

function showTime() {
  now.textContent = cueClock(media.currentTime);
  if (!media.paused && media.currentTime >= stopAt) {
    media.pause();
    stopAt = Infinity;
  }
}

function watchPlayback() {
  showTime();
  if (!media.paused) requestAnimationFrame(watchPlayback);
}

media.addEventListener("timeupdate", showTime);
media.addEventListener("seeked", showTime);
media.addEventListener("play", () => requestAnimationFrame(watchPlayback));

/** The form's cues shown on the clip as they are edited (the stored track is hidden). */
function refreshPreview() {
  if (!media.textTracks || typeof VTTCue === "undefined") return;
  if (!preview) {
    for (const track of media.textTracks) track.mode = "disabled";
    preview = media.addTextTrack("captions", say("editor_preview"), lang);
    preview.mode = "showing";
  }
  for (const cue of Array.from(preview.cues || [])) preview.removeCue(cue);
  for (const row of cueRows(list)) {
    const { start, end, text } = rowState(row);
    const [s, e] = [parseTime(start), parseTime(end)];
    if (e > s) preview.addCue(new VTTCue(s, e, text));
  }
}

function playCue(row) {
  const number = cueRows(list).indexOf(row) + 1;
  const start = parseTime(fieldOf(row, "start").value);
  if (isNaN(start) || media.error) return announce(say("editor_said_no_media"));
  const end = parseTime(fieldOf(row, "end").value);
  stopAt = end > start ? end : Infinity;
  media.currentTime = start;
  announce(say("editor_said_playing", { n: number }));
  media.play().catch(() => announce(say("editor_said_no_media")));
}

function setTime(row, which) {
  const n = cueRows(list).indexOf(row) + 1;
  const time = cueClock(media.currentTime);
  change(say(which === "start" ? "editor_said_start" : "editor_said_end", { n, time }), () => {
    fieldOf(row, which).value = time;
  });
}

// --- split and merge -------------------------------------------------------------------------

const caret = new WeakMap(); // a cue's text field -> where its caret was last

/** Where to cut the text: the caret if it is inside the text, else the space nearest the middle. */
function cutAt(field) {
  const text = field.value;
  const at = caret.get(field);
  if (at > 0 && at < text.length) return at;
  const middle = text.length / 2;
  let best = -1;
  for (let i = text.indexOf(" "); i !== -1; i = text.indexOf(" ", i + 1)) {
    if (best === -1 || Math.abs(i - middle) < Math.abs(best - middle)) best = i;
  }
  return best === -1 ? Math.round(middle) : best;
}

function split(row) {
  const n = cueRows(list).indexOf(row) + 1;
  const { start, end, text, settings } = rowState(row);
  const [s, e] = [parseTime(start), parseTime(end)];
  if (!(e > s)) return announce(say("editor_said_need_times", { n }));
  const cut = cutAt(fieldOf(row, "text"));
  const playhead = media.currentTime;
  const at = playhead > s && playhead < e ? playhead : s + ((e - s) * cut) / Math.max(text.length, 1);
  change(say("editor_said_split", { n, next: n + 1 }), () => {
    setRowState(row, { start, end: cueClock(at), text: text.slice(0, cut).trim(), settings });
    const added = freshRow(list);
    row.after(added);
    setRowState(added, { start: cueClock(at), end, text: text.slice(cut).trim(), settings });
  });
  fieldOf(row.nextElementSibling, "text").focus();
}

function merge(row) {
  const next = row.nextElementSibling;
  if (!next) return;
  const n = cueRows(list).indexOf(row) + 1;
  const [first, second] = [rowState(row), rowState(next)];
  change(say("editor_said_merge", { n }), () => {
    const text = [first.text, second.text].filter((t) => t.trim()).join(" ");
    setRowState(row, { ...first, end: second.end, text });
    next.remove();
  });
  fieldOf(row, "text").focus();
}

// --- find and replace ------------------------------------------------------------------------

const find = document.getElementById("amps-find");
const replacement = document.getElementById("amps-replace");
const texts = () => cueRows(list).map((row) => fieldOf(row, "text"));
const occurrences = (text, word) => (word ? text.split(word).length - 1 : 0);

function countMatches() {
  const word = find.value;
  const count = texts().reduce((sum, field) => sum + occurrences(field.value, word), 0);
  announce(say("editor_said_found", { count }));
}

function replaceAll() {
  const word = find.value;
  const count = texts().reduce((sum, field) => sum + occurrences(field.value, word), 0);
  if (!count) return announce(say("editor_said_replaced", { count }));
  change(say("editor_said_replaced", { count }), () => {
    for (const field of texts()) field.value = field.value.split(word).join(replacement.value);
  });
}

// --- wiring ----------------------------------------------------------------------------------

const TEXT_INPUTS = "textarea, input[type=text], input[type=search], input[type=password]";
const KEYS = { BracketLeft: "start", BracketRight: "end", KeyP: "play" };

document.addEventListener("keydown", (event) => {
  const row = event.target.closest && event.target.closest("[data-cue]");
  const onlyAlt = event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey;
  if (row && onlyAlt && KEYS[event.code]) {
    event.preventDefault();
    if (KEYS[event.code] === "play") playCue(row);
    else setTime(row, KEYS[event.code]);
    return;
  }
  const undoKey = (event.ctrlKey || event.metaKey) && !event.altKey && event.code === "KeyZ";
  if (undoKey && !event.shiftKey && !event.target.matches(TEXT_INPUTS)) {
    event.preventDefault();
    undo();
  }
});

list.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("[data-cue]");
  ({ play: playCue, split, merge })[button.dataset.action](row);
});

// The caret of a cue's text, kept for Split (a click on the button moves focus away from it).
list.addEventListener("focusout", (event) => {
  if (event.target.matches("textarea")) caret.set(event.target, event.target.selectionStart);
});
list.addEventListener("focusin", (event) => {
  for (const row of list.querySelectorAll(".amps-cue-current")) row.classList.remove("amps-cue-current");
  event.target.closest("[data-cue]")?.classList.add("amps-cue-current");
});

document.getElementById("amps-undo").addEventListener("click", undo);
document.getElementById("amps-find-count").addEventListener("click", countMatches);
document.getElementById("amps-replace-all").addEventListener("click", replaceAll);
find.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    countMatches();
  }
});

root.dataset.enhanced = "";
refreshPreview();
// After a save, restore or refused post, focus goes to what the page says first.
const first = document.getElementById("amps-error-summary") || document.getElementById("amps-editor-status");
if (first && first.textContent.trim()) first.focus();
