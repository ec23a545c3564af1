// Volume: a native range input (its own arrow keys work), spoken as "80%".

export default function volume(ctl) {
  const slider = ctl.$(".amps-volume");
  const media = ctl.media;
  const show = () => {
    const value = media.muted ? 0 : media.volume;
    slider.value = value;
    slider.setAttribute("aria-valuetext", ctl.t("volume_value", { percent: Math.round(value * 100) }));
  };
  slider.addEventListener("input", () => ctl.setVolume(+slider.value));
  ctl.actions.volume = (step) => ctl.setVolume((media.muted ? 0 : media.volume) + step);
  ctl.on("volumechange", show);
  show();
}
