// The seek slider: a native range input whose value is spoken as a phrase,
// "1 minute 5 seconds of 3 minutes 25 seconds" (aria-valuetext).
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
    // Once a second at most; and while the slider itself has focus during playback, every
    // 10 s, so a screen reader is not made to read a new value each second.
    const focused = document.activeElement == slider && !media.paused;
    if (!force && (whole == shown || (focused && Math.abs(time - stamp) < 10))) return;
    shown = whole;
    stamp = time;
    const duration = ctl.duration;
    slider.max = duration;
    if (!dragging) slider.value = time;
    slider.style.setProperty("--amps-fill", (duration ? (time / duration) * 100 : 0) + "%");
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
  // The slider's own keys (not shortcuts, so they work with shortcuts off): arrows 5 s, as the
  // player keys. The timeline stays left-to-right in RTL pages (a tape direction, as in
  // Material's bidi guidance and major players), so Right is later there too, as APG says.
  const steps = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5 };
  slider.addEventListener("keydown", (e) => {
    if (!(e.key in steps) || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    ctl.seek(media.currentTime + steps[e.key]);
  });
  ctl.on("timeupdate", () => show());
  for (const type of ["durationchange", "seeked", "loadedmetadata"]) ctl.on(type, () => show(true));
}
