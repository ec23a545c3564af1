// Elapsed / duration and remaining, as <time>s (not live: the seek slider speaks the time).
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
  // Beside the seek slider (without JS it sits under the picture).
  ctl.$(".amps-seek").after(elapsed.parentNode);
}
