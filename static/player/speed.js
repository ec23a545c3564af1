// Speed: a menu of rates (radios, 0.5-2x); its button shows and says the rate.

export default function speed(ctl) {
  const button = ctl.$('[data-menu="speed"]');
  const radios = ctl.$$('[name="amps-speed"]');
  const rates = radios.map((r) => +r.value);
  const media = ctl.media;
  const show = () => {
    const rate = String(+media.playbackRate.toFixed(2));
    ctl.label(button, ctl.t("speed_value", { rate }));
    button.querySelector(".amps-rate").textContent = rate + "×";
    for (const radio of radios) radio.checked = radio.value == media.playbackRate;
  };
  for (const radio of radios) radio.addEventListener("change", () => (media.playbackRate = +radio.value));
  ctl.actions.speed = (step) => {
    const now = rates.findIndex((r) => r >= media.playbackRate - 1e-3);
    const at = now < 0 ? rates.length - 1 : now;
    media.playbackRate = rates[Math.min(rates.length - 1, Math.max(0, at + step))];
  };
  ctl.on("ratechange", show);
  show();
}
