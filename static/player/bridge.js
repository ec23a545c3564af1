// The player API for host pages (docs/embed-api.md): commands in and events out, by
// postMessage with the parent window only, and only with origins AMPS_EMBED_ORIGINS allows.
const TIMEUPDATE_MS = 250; // about four a second

export default function bridge(ctl) {
  if (window.parent === window) return;
  const meta = document.querySelector('meta[name="amps-embed-origins"]');
  const allowed = (meta?.content || "*").split(/\s+/).filter(Boolean);
  const anyOrigin = allowed.includes("*");
  const target = anyOrigin ? "*" : parentOrigin(allowed);
  if (!target) return; // framed by a page that may not drive the player
  const id = ctl.root.dataset.id;
  const media = ctl.media;
  const state = () => ({
    id, currentTime: media.currentTime, duration: ctl.duration, paused: media.paused,
    ended: media.ended, muted: media.muted, volume: media.volume, playbackRate: media.playbackRate,
  });
  // In a playlist: the clip's place in it; a player swapped out stays quiet.
  const place = () => {
    const box = ctl.root.closest("[data-amps-playlist]");
    return box ? { playlist: box.dataset.id, index: +box.dataset.index } : {};
  };
  const post = (message, origin = target) => {
    if (!ctl.root.isConnected && message.requestId === undefined) return;
    const where = place();
    window.parent.postMessage({ amps: 1, id, ...where, state: { ...state(), ...where }, ...message }, origin);
  };
  const commands = {
    hello: () => post({ event: "ready" }),
    play: () => ctl.play(),
    pause: () => media.pause(),
    seek: (seconds) => ctl.seek(Number(seconds) || 0),
    setVolume: (volume) => ctl.setVolume(Number(volume)),
    mute: () => (media.muted = true),
    unmute: () => (media.muted = false),
    getState: () => {},
    next: () => ctl.actions.next?.(),
    previous: () => ctl.actions.previous?.(),
    select: (index) => ctl.actions.select?.(Number(index)),
  };

  window.addEventListener("message", async (event) => {
    const message = event.data;
    if (event.source !== window.parent || !message || message.amps !== 1) return;
    if (!ctl.root.isConnected) return; // swapped out: the new player answers
    if (!anyOrigin && !allowed.includes(event.origin)) return;
    const command = Object.hasOwn(commands, message.method) && commands[message.method];
    const reply = { requestId: message.requestId };
    if (!command) reply.error = `unknown method ${String(message.method).slice(0, 40)}`;
    else await command(...(Array.isArray(message.args) ? message.args : []));
    // An opaque origin (a sandboxed or file: page) can only be answered with "*".
    if (message.requestId !== undefined) post(reply, event.origin === "null" ? "*" : event.origin);
  });

  for (const type of ["play", "pause", "seeked", "ended"]) ctl.on(type, () => post({ event: type }));
  let last = 0;
  ctl.on("timeupdate", () => {
    const now = performance.now();
    if (now - last < TIMEUPDATE_MS) return;
    last = now;
    post({ event: "timeupdate" });
  });
  media.addEventListener("error", () => post({ event: "error", error: media.error?.code || 0 }));
  media.querySelector("source")?.addEventListener("error", () => post({ event: "error" }));
  ctl.on("ready", () => post({ event: "ready" }));
}

// The embedding page's origin, when it is one of the allowed ones.
function parentOrigin(allowed) {
  let origin = location.ancestorOrigins?.[0];
  if (!origin && document.referrer) origin = new URL(document.referrer).origin;
  return allowed.includes(origin) ? origin : null;
}
