// Captions: toggle, track menu, and cues drawn in an aria-hidden overlay (README.md).

export default function captions(ctl) {
  const toggle = ctl.$('[data-control="captions"]');
  if (!toggle) return;
  const tracks = {};
  for (const el of ctl.media.querySelectorAll("track:is([kind=captions],[kind=subtitles])")) tracks[el.dataset.id] = el;
  const radios = ctl.$$('[name="amps-caption-track"]');
  const overlay = document.createElement("div");
  overlay.className = "amps-cues";
  overlay.setAttribute("aria-hidden", "true");
  overlay.dir = "auto";
  ctl.$(".amps-stage").append(overlay);
  let current = null;
  let last = radios.find((r) => r.value)?.value;

  // Paused on a boundary, the cue ending there is still "active": show only the next one.
  const render = () => {
    const now = ctl.media.currentTime;
    const cues = [...(current?.track.activeCues || [])].filter((c) => c.endTime > now);
    overlay.replaceChildren(...cues.map((cue) => {
      const line = document.createElement("span");
      line.append(cue.getCueAsHTML());
      return line;
    }));
  };
  const choose = (id) => {
    if (current) current.track.mode = "disabled";
    current = tracks[id] || null;
    if (current) {
      last = id;
      current.track.mode = "hidden";
      current.track.oncuechange = render;
      overlay.lang = current.srclang;
    }
    toggle.setAttribute("aria-pressed", !!current);
    overlay.hidden = !current;
    for (const radio of radios) radio.checked = radio.value == (current ? id : "");
    ctl.save("captions", current ? current.srclang : "");
    render();
    ctl.emit("captionschange", current && current.srclang);
  };
  for (const radio of radios) radio.addEventListener("change", () => choose(radio.value));
  ctl.actions.captions = () => choose(current ? "" : last);
  toggle.addEventListener("click", ctl.actions.captions);

  // `captions=LANG` (a default track), else the reader's last choice.
  const saved = ctl.load("captions", "");
  const start = Object.values(tracks).find((el) => el.default)
    || Object.values(tracks).find((el) => saved && el.srclang == saved);
  choose(start ? start.dataset.id : "");
}
