// The seek slider: aria-valuetext speaks the time ("1 minute 5 seconds of 3 minutes 25 seconds").
import { spoken } from "./time-format.js";

export default function seek(ctl) {
  const slider = ctl.$(".amps-seek");
  const media = ctl.media;
  let dragging = false;
  let shown = -1;
  let stamp = 0;

  const show = (force) => {
    const time = dragging ? +slider.value : media.currentTime;
    const whole = Math.floor(time);
    // Every 10 s, not every second, while focused and playing: screen readers read it out.
    const focused = document.activeElement == slider && !media.paused;
    if (!force && (whole == shown || (focused && Math.abs(time - stamp) < 10))) return;
    shown = whole;
    stamp = time;
    const duration = ctl.duration;
    slider.max = duration;
    if (!dragging) slider.value = time;
    slider.setAttribute("aria-valuetext", ctl.t("time_of", {
      elapsed: spoken(time, ctl.cat), duration: spoken(duration, ctl.cat),
    }));
  };

  slider.addEventListener("input", () => {
    dragging = true;
    ctl.seek(+slider.value);
    show(true);
  });
  slider.addEventListener("change", () => (dragging = false));
  // Its own keys, on even with shortcuts off. Not mirrored in RTL (README.md).
  const steps = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5 };
  slider.addEventListener("keydown", (e) => {
    if (!(e.key in steps) || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    ctl.seek(media.currentTime + steps[e.key]);
  });
  ctl.on("timeupdate", () => show());
  for (const type of ["durationchange", "seeked", "loadedmetadata"]) ctl.on(type, () => show(true));
}
