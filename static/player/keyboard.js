// The keyboard map: focus in the player only, never a control's own keys (README.md).

const NOT_HERE = "input:not([type=range]), select, textarea, [contenteditable], dialog, .amps-menu";
const OWNS_SPACE = "button, a, input:not([type=range]), summary";

export default function keyboard(ctl) {
  const media = ctl.media;
  const act = (name, ...args) => () => ctl.actions[name]?.(...args);
  const by = (seconds) => () => ctl.seek(media.currentTime + seconds);
  const keys = {
    " ": act("toggle"), k: act("toggle"),
    arrowleft: by(-5), arrowright: by(5), j: by(-10), l: by(10),
    arrowup: act("volume", 0.05), arrowdown: act("volume", -0.05),
    m: act("mute"), c: act("captions"), f: act("fullscreen"),
    home: () => ctl.seek(0), end: () => ctl.seek(ctl.duration),
    "<": act("speed", -1), ">": act("speed", 1), "?": act("help"),
    n: act("next"), p: act("previous"), // in a playlist
  };
  ctl.root.addEventListener("keydown", (e) => {
    const target = e.target;
    const key = e.key.toLowerCase();
    if (!ctl.shortcuts || e.defaultPrevented || e.ctrlKey || e.altKey || e.metaKey) return;
    if (target.closest(NOT_HERE) || (key == " " && target.matches(OWNS_SPACE))) return;
    if (target.matches(".amps-volume") && /^(arrow|home|end|page)/.test(key)) return;
    const run = /^[0-9]$/.test(key) ? () => ctl.seek((ctl.duration * key) / 10) : keys[key];
    if (!run) return;
    e.preventDefault();
    run();
  });
}
