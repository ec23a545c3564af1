// The editor's cue rows (one <li data-cue> each, rendered by the server): read and write their
// fields, add one, and renumber names, ids and labels after a split, merge or undo.

const FIELDS = ["start", "end", "text", "settings"];

export const cueRows = (list) => Array.from(list.querySelectorAll(":scope > [data-cue]"));
export const fieldOf = (row, name) => row.querySelector(`[data-field=${name}]`);

export function rowState(row) {
  return Object.fromEntries(FIELDS.map((name) => [name, fieldOf(row, name).value]));
}

export function setRowState(row, state) {
  for (const name of FIELDS) fieldOf(row, name).value = state[name] ?? "";
}

let pristine = null;
/** An empty row like the server's, without any error the server marked. */
export function freshRow(list) {
  if (!pristine) {
    pristine = cueRows(list)[0].cloneNode(true);
    for (const error of pristine.querySelectorAll(".amps-error")) error.remove();
    for (const field of pristine.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
    pristine.classList.remove("amps-cue-current");
  }
  const row = pristine.cloneNode(true);
  setRowState(row, {});
  return row;
}

/** Names and ids `cue-N-field` in order, legends "Cue N", errors kept with their field. */
export function renumber(list, say) {
  const rows = cueRows(list);
  rows.forEach((row, i) => {
    row.querySelector("[data-legend]").textContent = say("editor_cue", { n: i + 1 });
    for (const span of row.querySelectorAll("[data-number]")) span.textContent = ` ${i + 1}`;
    for (const name of FIELDS) {
      const field = fieldOf(row, name);
      const id = `cue-${i}-${name}`;
      field.name = id;
      if (name === "settings") continue;
      field.id = id;
      row.querySelector(`label[data-for=${name}]`).htmlFor = id;
      const error = field.parentElement.querySelector(".amps-error");
      if (error) error.id = `${id}-error`;
      const refs = [name === "text" ? "" : "amps-time-hint", error ? error.id : ""].filter(Boolean);
      if (refs.length) field.setAttribute("aria-describedby", refs.join(" "));
      else field.removeAttribute("aria-describedby");
    }
    row.querySelector("[data-action=merge]").hidden = i === rows.length - 1;
  });
}
