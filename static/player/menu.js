// Popups: menus, dialogs, tooltips. A menu is a disclosure: a button (aria-expanded) showing a native
// fieldset of radios or a list of buttons. Esc closes it and focus goes back to its button;
// a click outside, or Tab moving focus out, closes it; nothing traps focus.
// A dialog is a native modal <dialog> (Esc closes it; focus returns to where it was).

export default function menus(ctl) {
  let open = null;
  // Open towards the larger free space (above the controls for video, often below for
  // audio) and never taller than it, so no choice ends up out of reach in a small frame.
  const place = (menu) => {
    const bar = ctl.$(".amps-controls").getBoundingClientRect();
    const above = bar.top - 4;
    const below = innerHeight - bar.bottom - 4;
    menu.classList.toggle("amps-menu--down", below > above);
    menu.style.maxHeight = Math.max(above, below, 120) + "px";
  };
  const close = (refocus) => {
    if (!open) return;
    const { button, menu } = open;
    open = null;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (refocus) button.focus();
  };
  for (const button of ctl.$$("[data-menu]")) {
    const menu = document.getElementById(button.getAttribute("aria-controls"));
    button.addEventListener("click", () => {
      const same = open && open.menu == menu;
      close();
      if (same) return;
      open = { button, menu };
      menu.hidden = false;
      place(menu);
      button.setAttribute("aria-expanded", "true");
    });
    // A choice made with the pointer closes the menu; arrow keys on radios (detail 0) do not.
    menu.addEventListener("click", (e) => e.detail && e.target.matches("input") && close(true));
  }
  // Esc closes the open menu; with none open, it hides the tooltips until the next move.
  ctl.root.addEventListener("keydown", (e) => {
    if (e.key != "Escape" || e.target.closest("dialog")) return;
    if (open) {
      e.preventDefault();
      close(true);
    } else ctl.root.classList.add("amps-quiet");
  });
  for (const type of ["focusin", "pointerover"]) {
    ctl.root.addEventListener(type, () => ctl.root.classList.remove("amps-quiet"));
  }
  // Focus leaving for another control closes; focus falling to nothing (a click on a label
  // or the menu's padding lands on the player region) does not: pointerdown handles those.
  ctl.root.addEventListener("focusout", (e) => {
    const to = e.relatedTarget;
    if (open && to && to != ctl.root && !open.menu.contains(to) && to != open.button) close();
  });
  document.addEventListener("pointerdown", (e) => {
    if (open && !open.menu.contains(e.target) && !open.button.contains(e.target)) close();
  });
  ctl.closeMenu = close;

  // A button's tooltip (its name, shown on hover and focus) is centred on it but kept
  // inside the player, so the first and last buttons' names are not cut off.
  for (const type of ["pointerover", "focusin"]) {
    ctl.root.addEventListener(type, (e) => {
      const tip = e.target.closest?.(".amps-button")?.querySelector(".amps-label");
      if (!tip) return;
      tip.style.marginLeft = "";
      const at = tip.getBoundingClientRect();
      const box = ctl.root.getBoundingClientRect();
      if (at.width > 1) tip.style.marginLeft = Math.max(box.left - at.left, Math.min(box.right - at.right, 0)) + "px";
    });
  }

  for (const opener of ctl.$$("[data-dialog]")) {
    const dialog = document.getElementById(opener.dataset.dialog);
    opener.addEventListener("click", () => ctl.openDialog(dialog));
  }
  for (const dialog of ctl.$$("dialog")) {
    dialog.setAttribute("closedby", "any"); // a click on the backdrop closes it too
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  }
}
