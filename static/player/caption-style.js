// Caption style: custom properties the cue overlay reads; kept across visits.

export default function captionStyle(ctl) {
  const selects = ctl.$$("[data-caption-setting]");
  const saved = ctl.load("caption-style", {});
  const apply = () => {
    for (const select of selects) {
      const name = select.dataset.captionSetting.replace("caption_", "--amps-cue-");
      ctl.root.style.setProperty(name, select.value);
    }
  };
  for (const select of selects) {
    const key = select.dataset.captionSetting;
    if ([...select.options].some((o) => o.value == saved[key])) select.value = saved[key];
    select.addEventListener("change", () => {
      saved[key] = select.value;
      ctl.save("caption-style", saved);
      apply();
    });
  }
  apply();
}
