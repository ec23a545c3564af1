// Sign-language window: the interpreter's video over the picture, kept in time with the clip,
// moved and sized by pointer or keyboard, never over the captions (README.md).

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const STEP = 0.05; // of the free room (moving) or of the picture's width (sizing)

export default function signWindow(ctl) {
  const toggle = ctl.$('[data-control="sign"]');
  const box = ctl.$(".amps-sign");
  if (!toggle || !box) return;
  const help = ctl.$(".amps-sign-help");
  const sign = box.querySelector("video");
  const media = ctl.media;
  const stage = ctl.$(".amps-stage");
  // x, y: where in the free room (0 start, 1 end); w: the share of the picture's width.
  const place = Object.assign({ on: false, x: 1, y: 0, w: 0.3 }, ctl.load("sign", {}));
  let timer;

  // The room: the picture above the captions' band (the control bar is below the picture).
  const room = () => {
    const cues = ctl.$(".amps-cues");
    const width = stage.clientWidth;
    let band = 0;
    if (cues && !cues.hidden) {
      const size = clamp(width * 0.03, 15, 36) * (parseFloat(getComputedStyle(ctl.root).getPropertyValue("--amps-cue-size")) || 1);
      band = Math.max(cues.offsetHeight, size * 2.8) + 8; // two lines at least
    }
    return { width, height: Math.max(stage.clientHeight - band, 40) };
  };
  const layout = () => {
    if (box.hidden) return;
    const { width, height } = room();
    const ratio = sign.videoWidth / sign.videoHeight || 16 / 9;
    place.w = clamp(place.w, Math.min(0.6, 140 / width), 0.6); // never too small to read signs
    let w = place.w * width;
    let h = w / ratio;
    if (h > height) [h, w] = [height, height * ratio];
    Object.assign(box.style, {
      width: w + "px", height: h + "px",
      left: clamp(place.x, 0, 1) * (width - w) + "px", top: clamp(place.y, 0, 1) * (height - h) + "px",
    });
    // The instructions beside the window: above it, or below when there is no room.
    const top = box.offsetTop - help.offsetHeight - 4;
    help.style.top = (top >= 0 ? top : box.offsetTop + h + 4) + "px";
    help.style.left = clamp(box.offsetLeft, 0, Math.max(0, width - help.offsetWidth)) + "px";
  };
  const keep = () => ctl.save("sign", place);

  // Follow the clip: its time (seek when far, a slightly faster or slower rate when near),
  // rate, play state and buffering.
  const sync = () => {
    if (box.hidden || sign.readyState < 1) return;
    const rate = media.playbackRate;
    const running = !media.paused && !media.ended && !media.seeking && media.readyState > 2;
    const drift = sign.currentTime - media.currentTime;
    if (!sign.seeking && (Math.abs(drift) > 0.25 || (!running && Math.abs(drift) > 0.04))) {
      sign.currentTime = media.currentTime + (running ? 0.05 * rate : 0);
    }
    sign.playbackRate = running ? rate * (1 - clamp(drift, -0.1, 0.1)) : rate;
    if (running && sign.paused) sign.play().catch(() => {});
    if (!running && !sign.paused) sign.pause();
  };
  const show = (on) => {
    place.on = on;
    toggle.setAttribute("aria-pressed", on);
    box.hidden = help.hidden = !on;
    clearInterval(timer);
    if (on) {
      sign.preload = "auto";
      timer = setInterval(sync, 200);
      layout();
      sync();
    } else sign.pause();
    keep();
  };
  toggle.addEventListener("click", () => show(!place.on));
  ctl.actions.sign = () => show(!place.on);
  for (const type of ["play", "pause", "playing", "waiting", "seeking", "seeked", "ratechange", "ended"]) ctl.on(type, sync);
  sign.addEventListener("loadedmetadata", () => (layout(), sync()));
  sign.addEventListener("canplay", sync);
  ctl.on("captionschange", () => requestAnimationFrame(layout));
  new ResizeObserver(layout).observe(stage);

  box.addEventListener("keydown", (e) => {
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (!d || e.ctrlKey || e.altKey || e.metaKey) return;
    e.preventDefault(); // not the player's seek and volume keys
    if (e.shiftKey) place.w += STEP * (d[0] || -d[1]);
    else [place.x, place.y] = [clamp(place.x + STEP * 2 * d[0], 0, 1), clamp(place.y + STEP * 2 * d[1], 0, 1)];
    layout();
    keep();
  });

  // Pointer: drag the window to move it, its corner to size it.
  box.addEventListener("pointerdown", (e) => {
    if (e.button) return;
    e.preventDefault();
    box.focus();
    box.setPointerCapture(e.pointerId);
    const sizing = e.target.matches(".amps-sign-grip");
    const start = { x: e.clientX, y: e.clientY, left: box.offsetLeft, top: box.offsetTop, w: box.offsetWidth };
    const move = (m) => {
      const { width, height } = room();
      const dx = m.clientX - start.x, dy = m.clientY - start.y;
      if (sizing) {
        place.w = (start.w + dx) / width;
        const w = clamp(place.w, Math.min(0.6, 140 / width), 0.6) * width;
        place.x = width > w ? start.left / (width - w) : 0;
        place.y = height > box.offsetHeight ? start.top / (height - box.offsetHeight) : 0;
      } else {
        place.x = width > start.w ? clamp((start.left + dx) / (width - start.w), 0, 1) : 0;
        place.y = height > box.offsetHeight ? clamp((start.top + dy) / (height - box.offsetHeight), 0, 1) : 0;
      }
      layout();
    };
    const end = () => {
      box.removeEventListener("pointermove", move);
      keep();
    };
    box.addEventListener("pointermove", move);
    box.addEventListener("pointerup", end, { once: true });
    box.addEventListener("pointercancel", end, { once: true });
  });
  show(place.on);
}
