// The time display: elapsed / duration and remaining, as <time> elements (not announced
// while playing; the seek slider carries the spoken value).
import { clock, iso } from "./time-format.js";

export default function time(ctl) {
  const elapsed = ctl.root.querySelector(".amps-elapsed");
  const total = ctl.root.querySelector(".amps-duration");
  const remaining = ctl.$(".amps-remaining time");
  const set = (el, seconds, sign = "") => {
    const text = sign + clock(seconds);
    if (el.textContent == text) return;
    el.textContent = text;
    el.dateTime = iso(seconds);
  };
  const show = () => {
    const now = ctl.media.currentTime;
    set(elapsed, now);
    set(total, ctl.duration);
    set(remaining, Math.max(0, ctl.duration - now), "-");
  };
  for (const type of ["timeupdate", "durationchange", "seeking", "loadedmetadata"]) ctl.on(type, show);
  // Shown beside the seek slider once the player is scripted (no-JS: under the picture).
  ctl.$(".amps-seek").after(elapsed.parentNode);
}
