// The shortcuts help dialog (`?`) and the switch for single-key shortcuts (WCAG 2.1.4).

export default function help(ctl) {
  const dialog = ctl.$("#amps-help-dialog");
  const box = dialog.querySelector(".amps-shortcuts-enabled");
  box.checked = ctl.shortcuts = ctl.load("shortcuts", true);
  box.addEventListener("change", () => {
    ctl.shortcuts = box.checked;
    ctl.save("shortcuts", box.checked);
  });
  ctl.actions.help = () => ctl.openDialog(dialog);
}
