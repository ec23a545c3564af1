// The controller: media element, catalogue, state events (on/emit) and requests (README.md).

const EVENTS = ["loadstart", "loadedmetadata", "durationchange", "canplay", "playing", "play",
  "pause", "waiting", "stalled", "seeking", "seeked", "timeupdate", "ended", "volumechange",
  "ratechange", "enterpictureinpicture", "leavepictureinpicture"];

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

export class Controller {
  constructor(root) {
    this.root = root;
    this.media = root.querySelector(".amps-media");
    this.cat = JSON.parse(root.querySelector(".amps-strings").textContent);
    this.handlers = {};
    this.actions = {}; // requests that controls register, for keys and host pages
    for (const type of EVENTS) this.media.addEventListener(type, (e) => this.emit(type, e));
  }

  $(selector) {
    return this.root.querySelector(selector);
  }

  $$(selector) {
    return [...this.root.querySelectorAll(selector)];
  }

  t(key, values = {}) {
    return (this.cat.strings[key] || key).replace(/\{(\w+)\}/g, (_, k) => values[k]);
  }

  on(type, fn) {
    (this.handlers[type] ||= []).push(fn);
  }

  emit(type, detail) {
    for (const fn of this.handlers[type] || []) fn(detail);
  }

  // The server's (probed) duration until metadata arrives.
  get duration() {
    const d = this.media.duration;
    return isFinite(d) && d > 0 ? d : +this.root.dataset.duration || 0;
  }

  play() {
    return this.media.play().catch(() => {}); // a refusal shows up as media events
  }

  toggle() {
    this.media.paused ? this.play() : this.media.pause();
  }

  seek(seconds) {
    this.media.currentTime = clamp(seconds, 0, this.duration);
  }

  setVolume(volume) {
    this.media.volume = clamp(volume, 0, 1);
    this.media.muted = volume <= 0;
  }

  // localStorage may be missing or refused (privacy modes, sandboxed frames).
  load(key, fallback) {
    try {
      return JSON.parse(localStorage.getItem("amps-" + key)) ?? fallback;
    } catch {
      return fallback;
    }
  }

  save(key, value) {
    try {
      localStorage.setItem("amps-" + key, JSON.stringify(value));
    } catch {}
  }

  icon(button, name) {
    const use = button.querySelector("use");
    use.setAttribute("href", use.getAttribute("href").replace(/#.*/, "#" + name));
  }

  label(button, text) {
    button.querySelector(".amps-label").textContent = text;
  }

  // Focus returns where it was; opened from a menu, that is the menu's button (the menu
  // closes first, so the browser's own restoring already lands there).
  openDialog(dialog) {
    if (document.activeElement.closest(".amps-menu")) this.closeMenu(true);
    const back = document.activeElement;
    dialog.showModal();
    dialog.addEventListener("close", () => (back == document.body ? this.root : back).focus(), { once: true });
  }
}
