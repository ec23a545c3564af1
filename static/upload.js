// The upload form, enhanced: the API over XHR for a real progress bar, cancel, and errors
// shown next to the field they concern. Without this script the form posts to /upload.
const form = document.querySelector("form.amps-upload");
const strings = JSON.parse(document.querySelector(".amps-upload-strings").textContent);
const say = (key, values = {}) =>
  strings[key].replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

if (form) enhance(form);

function enhance(form) {
  const $ = (selector) => form.querySelector(selector);
  const status = $(".amps-upload-status");
  const progressBox = $(".amps-progress");
  const progress = $("progress");
  const progressLabel = $(".amps-progress label");
  const submit = $(".amps-submit");
  const cancel = $(".amps-cancel");
  const fileInput = $("#amps-file");
  let xhr = null;

  dropTarget($(".amps-drop"), fileInput);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!fileInput.files.length) return showError(form, "file", fileInput.validationMessage);
    xhr = send(form, fileInput.files[0]);
  });
  cancel.addEventListener("click", () => xhr && xhr.abort());

  function send(form, file) {
    const request = new XMLHttpRequest();
    const body = new FormData();
    for (const name of ["title", "description", "language"]) {
      const value = form.elements[name]?.value.trim();
      if (value) body.append(name, value);
    }
    body.append("file", file, file.name);
    request.open("POST", "/api/media");
    const token = form.elements.token?.value.trim();
    if (token) request.setRequestHeader("Authorization", `Bearer ${token}`);
    let lastTenth = -1;
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.floor((event.loaded / event.total) * 100);
      progress.value = percent;
      progressLabel.textContent = say("uploading", { percent });
      // Announce every 10%, not every event: a screen reader would chatter otherwise.
      if (Math.floor(percent / 10) !== lastTenth) {
        lastTenth = Math.floor(percent / 10);
        status.textContent = say("uploading", { percent: lastTenth * 10 });
      }
    });
    request.addEventListener("load", () => finish(request));
    request.addEventListener("error", () => done(say("upload_network")));
    request.addEventListener("abort", () => done(say("upload_cancelled")));
    busy(true);
    request.send(body);
    return request;
  }

  function finish(request) {
    let record = null;
    try {
      record = JSON.parse(request.responseText);
    } catch {
      record = { detail: request.statusText };
    }
    if (request.status === 201) {
      done("");
      status.textContent = `${say("upload_done")} `;
      const link = document.createElement("a");
      link.href = record.urls.watch;
      link.textContent = record.title;
      status.append(link);
      link.focus();
      form.reset();
      return;
    }
    done(`${say("upload_failed")} ${record.detail}`);
    const field = [401, 403].includes(request.status) && form.elements.token ? "token" : record.field;
    showError(form, form.elements[field] ? field : "file", record.detail);
  }

  function done(message) {
    busy(false);
    status.textContent = message;
  }

  function busy(on) {
    progressBox.hidden = !on;
    cancel.hidden = !on;
    submit.disabled = on;
    if (on) {
      progress.value = 0;
      cancel.focus();
    } else if (document.activeElement === cancel || !document.activeElement) {
      submit.focus();
    }
  }
}

function showError(form, name, message) {
  const input = form.elements[name];
  const error = form.querySelector(`#amps-${name}-error`);
  if (!input || !error) return;
  error.textContent = message;
  error.hidden = false;
  input.setAttribute("aria-invalid", "true");
  input.focus();
}

function clearErrors(form) {
  for (const error of form.querySelectorAll(".amps-error")) {
    error.hidden = true;
    error.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function dropTarget(zone, input) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("amps-drop--over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("amps-drop--over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("amps-drop--over");
    if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
  });
}
