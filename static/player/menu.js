// Popups: disclosure menus, modal dialogs, tooltips (see README.md).

export default function menus(ctl) {
  const root = ctl.root;
  let open = null;
  // Towards the larger free space, never taller than it: all reachable in a small frame.
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
    button.setAttribute("aria-expanded", false);
    if (refocus) button.focus();
  };
  ctl.closeMenu = close;
  for (const button of ctl.$$("[data-menu]")) {
    const menu = document.getElementById(button.getAttribute("aria-controls"));
    button.addEventListener("click", () => {
      const same = open?.menu == menu;
      close();
      if (same) return;
      open = { button, menu };
      menu.hidden = false;
      place(menu);
      button.setAttribute("aria-expanded", true);
    });
    // A pointer choice closes it; arrow keys moving through radios (detail 0) do not.
    menu.addEventListener("click", (e) => e.detail && e.target.matches("input") && close(true));
  }
  root.addEventListener("keydown", (e) => {
    if (e.key != "Escape" || e.target.closest("dialog")) return;
    if (open) close(true);
    else root.classList.add("amps-quiet");
  });
  // Focus landing on the player itself (a click on a label) is pointerdown's to judge.
  root.addEventListener("focusout", (e) => {
    const to = e.relatedTarget;
    if (open && to && to != root && !open.menu.contains(to) && to != open.button) close();
  });
  document.addEventListener("pointerdown", (e) => {
    if (open && !open.menu.contains(e.target) && !open.button.contains(e.target)) close();
  });

  // Tooltips: centred on their button, shifted to stay inside the player.
  for (const type of ["pointerover", "focusin"]) {
    root.addEventListener(type, (e) => {
      root.classList.remove("amps-quiet");
      const tip = e.target.closest?.(".amps-button")?.querySelector(".amps-label");
      if (!tip) return;
      tip.style.marginLeft = "";
      const at = tip.getBoundingClientRect();
      const box = root.getBoundingClientRect();
      const shift = Math.max(box.left - at.left, Math.min(box.right - at.right, 0));
      if (at.width > 1) tip.style.marginLeft = shift + "px";
    });
  }

  for (const opener of ctl.$$("[data-dialog]")) {
    opener.addEventListener("click", () => ctl.openDialog(document.getElementById(opener.dataset.dialog)));
  }
  for (const dialog of ctl.$$("dialog")) {
    dialog.setAttribute("closedby", "any"); // a click on the backdrop closes it
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  }
}
