// The controller: owns the media element, the catalogue and the player's state events.
// Controls ask it for changes (play(), seek(), actions.captions()); it never touches their
// markup. Every media event is re-emitted through on()/emit(), so a host-page bridge
// (postMessage) can listen exactly like the controls do.

const MEDIA_EVENTS = ["loadstart", "loadedmetadata", "durationchange", "canplay", "playing",
  "play", "pause", "waiting", "stalled", "seeking", "seeked", "timeupdate", "ended",
  "volumechange", "ratechange", "enterpictureinpicture", "leavepictureinpicture"];

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

export class Controller {
  constructor(root) {
    this.root = root;
    this.media = root.querySelector(".amps-media");
    this.cat = JSON.parse(root.querySelector(".amps-strings").textContent);
    this.handlers = {};
    this.actions = {}; // named requests that controls register, for keys and host pages
    for (const type of MEDIA_EVENTS) this.media.addEventListener(type, (e) => this.emit(type, e));
  }

  $(selector) {
    return this.root.querySelector(selector);
  }

  $$(selector) {
    return [...this.root.querySelectorAll(selector)];
  }

  /** A catalogue string with `{name}` placeholders filled. */
  t(key, values = {}) {
    return (this.cat.strings[key] || key).replace(/\{(\w+)\}/g, (_, k) => values[k]);
  }

  on(type, fn) {
    (this.handlers[type] ||= []).push(fn);
  }

  emit(type, detail) {
    for (const fn of this.handlers[type] || []) fn(detail);
  }

  /** The media's duration, or the server's (from the probe) until metadata arrives. */
  get duration() {
    const d = this.media.duration;
    return isFinite(d) && d > 0 ? d : +this.root.dataset.duration || 0;
  }

  play() {
    // A refused play() (autoplay policy, a failed source) is reported by media events.
    return this.media.play().catch(() => {});
  }

  toggle() {
    this.media.paused || this.media.ended ? this.play() : this.media.pause();
  }

  seek(seconds) {
    this.media.currentTime = clamp(seconds, 0, this.duration);
  }

  setVolume(volume) {
    this.media.volume = clamp(volume, 0, 1);
    this.media.muted = volume <= 0;
  }

  /** Saved preferences: localStorage may be absent (privacy modes, sandboxed frames). */
  load(key, fallback) {
    try {
      const value = localStorage.getItem("amps-" + key);
      return value == null ? fallback : JSON.parse(value);
    } catch {
      return fallback;
    }
  }

  save(key, value) {
    try {
      localStorage.setItem("amps-" + key, JSON.stringify(value));
    } catch {}
  }

  /** Point a button's sprite icon at another symbol (play/pause, volume/muted, ...). */
  icon(button, name) {
    const use = button.querySelector("use");
    use.setAttribute("href", use.getAttribute("href").replace(/#.*/, "#" + name));
  }

  label(button, text) {
    button.querySelector(".amps-label").textContent = text;
  }

  /** Open a modal <dialog>; on close focus goes back where it was (its menu's button if the
   * opener sat in a menu that is closed by then). */
  openDialog(dialog) {
    const back = document.activeElement;
    dialog.showModal();
    dialog.addEventListener("close", () => {
      const menu = back && back.closest(".amps-menu");
      const target = menu ? this.$(`[aria-controls="${menu.id}"]`) : back;
      (target && target.isConnected && target != document.body ? target : this.root).focus();
    }, { once: true });
  }
}
