// Text audio description: voice or live region, one at a time; optional pausing (README.md).

export default function description(ctl) {
  const toggle = ctl.$('[data-control="description"]');
  const track = [...ctl.media.textTracks].find((t) => t.kind == "descriptions");
  if (!toggle || !track) return;
  const region = ctl.$(".amps-description-text");
  const rates = ctl.$$('[name="amps-description-rate"]');
  const hold = ctl.$(".amps-description-pause");
  const voice = window.speechSynthesis;
  const settings = ctl.load("description", { on: false, rate: "1", hold: false });
  let held = false;
  let timer;

  const resume = () => {
    clearTimeout(timer);
    if (held) ctl.play();
    held = false;
  };
  const speak = (text) => {
    const rate = voice ? +settings.rate : 0;
    if (!rate) return (region.textContent = text);
    voice.cancel();
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = track.language;
    utterance.rate = rate;
    utterance.onend = resume;
    utterance.onerror = () => {
      resume();
      region.textContent = text;
    };
    if (settings.hold && !ctl.media.paused) {
      held = true;
      ctl.media.pause();
      // Never stay paused if the voice goes quiet without an end event.
      timer = setTimeout(resume, 3000 + (text.length * 90) / rate);
    }
    voice.speak(utterance);
  };
  track.oncuechange = () => {
    const text = [...track.activeCues].map((c) => c.getCueAsHTML().textContent).join(" ");
    if (settings.on && text) speak(text);
  };
  const show = () => {
    toggle.setAttribute("aria-pressed", settings.on);
    track.mode = settings.on ? "hidden" : "disabled";
    for (const radio of rates) radio.checked = radio.value == settings.rate;
    if (hold) hold.checked = settings.hold;
    ctl.save("description", settings);
  };
  const set = (change) => {
    Object.assign(settings, change);
    if (!settings.on) voice?.cancel();
    show();
  };
  toggle.addEventListener("click", () => set({ on: !settings.on }));
  for (const radio of rates) radio.addEventListener("change", () => set({ rate: radio.value }));
  hold?.addEventListener("change", () => set({ hold: hold.checked }));
  ctl.on("play", () => (held = false));
  show();
}
