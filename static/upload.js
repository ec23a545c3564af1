// The upload form, enhanced: a resumable upload (tus, through tus-js-client, loaded on this
// page only) with a real progress bar, pause, resume and cancel, that survives a dropped link
// and a reload (the same file chosen again continues where it stopped); the API over one XHR
// where tus-js-client cannot run; errors shown next to the field they concern. Without this
// script the form posts to /upload.
const form = document.querySelector("form.amps-upload");
const strings = JSON.parse(document.querySelector(".amps-upload-strings").textContent);
const say = (key, values = {}) =>
  strings[key].replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
// A script rides in the tus Upload-Metadata header only while that header stays small: the
// server takes 64 KiB, but proxies often refuse header lines past 8 KiB (nginx's default).
// A longer one is sent once the upload is done, to PUT /api/media/{id}/script.
const MAX_INLINE_METADATA = 6 * 1024;
const encoder = new TextEncoder();
const metadataLength = (metadata) =>
  Object.entries(metadata).reduce(
    (sum, [key, value]) => sum + key.length + 2 + 4 * Math.ceil(encoder.encode(value).length / 3),
    0,
  );

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
  const pause = $(".amps-pause");
  const resume = $(".amps-resume");
  const tus = window.tus?.isSupported ? window.tus : null;
  let xhr = null;
  let upload = null;

  dropTarget($(".amps-drop"), fileInput);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!fileInput.files.length) return showError(form, "file", fileInput.validationMessage);
    if (tus) upload = sendResumable(form, fileInput.files[0]);
    else xhr = send(form, fileInput.files[0]);
  });
  cancel.addEventListener("click", () => {
    if (xhr) xhr.abort();
    if (upload) {
      const stopped = upload;
      upload = null;
      // abort(true) also ends the upload on the server (tus termination): nothing is kept.
      stopped.abort(Boolean(stopped.url)).catch(() => {}).finally(() => done(say("upload_cancelled")));
    }
  });
  pause.addEventListener("click", () => {
    if (!upload) return;
    upload.abort();
    paused(true);
    status.textContent = say("upload_paused", { percent: progress.value });
  });
  resume.addEventListener("click", () => {
    if (!upload) return;
    paused(false);
    status.textContent = say("uploading", { percent: progress.value });
    upload.start();
  });
  // A link that drops while the browser knows it is offline: carry on when it is back.
  window.addEventListener("online", () => {
    if (upload && form.dataset.offline === "1") {
      delete form.dataset.offline;
      status.textContent = say("upload_resumed");
      upload.start();
    }
  });

  function sendResumable(form, file) {
    const metadata = { filename: file.name, filetype: file.type };
    for (const name of ["title", "description", "language"]) {
      const value = form.elements[name]?.value.trim();
      if (value) metadata[name] = value;
    }
    let lateScript = scriptOf(form);
    if (lateScript && metadataLength({ ...metadata, script: lateScript }) <= MAX_INLINE_METADATA) {
      metadata.script = lateScript;
      lateScript = null;
    }
    const token = form.elements.token?.value.trim();
    let mediaId = null;
    let lastTenth = -1;
    const resumable = new tus.Upload(file, {
      endpoint: "/api/uploads",
      chunkSize: 50 * 1024 * 1024, // under the 100 MB body limit common in proxies
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        const percent = Math.floor((sent / total) * 100);
        progress.value = percent;
        progressLabel.textContent = say("uploading", { percent });
        if (Math.floor(percent / 10) !== lastTenth) {
          lastTenth = Math.floor(percent / 10);
          status.textContent = say("uploading", { percent: lastTenth * 10 });
        }
      },
      onAfterResponse(request, response) {
        mediaId = response.getHeader("Amps-Media-Id") || mediaId;
      },
      onSuccess() {
        upload = null;
        finishResumable(mediaId, lateScript, token);
      },
      onError(error) {
        if (!navigator.onLine) {
          form.dataset.offline = "1";
          status.textContent = say("upload_offline");
          return;
        }
        upload = null;
        failResumable(error);
      },
    });
    busy(true);
    resumable
      .findPreviousUploads()
      .then((previous) => {
        if (previous.length) resumable.resumeFromPreviousUpload(previous[0]);
        resumable.start();
      })
      .catch(() => resumable.start());
    return resumable;
  }

  async function finishResumable(mediaId, lateScript, token) {
    let record = { detail: say("upload_network") };
    let status = 0;
    let scriptProblem = null;
    if (lateScript) scriptProblem = await putScript(mediaId, lateScript, token);
    try {
      const response = await fetch(`/api/media/${encodeURIComponent(mediaId)}`);
      status = response.status === 200 ? 201 : response.status;
      record = await response.json();
    } catch {}
    finish({ status, responseText: JSON.stringify(record), statusText: "" }, scriptProblem);
  }

  // The script of a finished upload; null when it was kept, else why not (a sentence).
  async function putScript(mediaId, script, token) {
    const headers = { "Content-Type": "text/plain; charset=utf-8" };
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      const url = `/api/media/${encodeURIComponent(mediaId)}/script`;
      const response = await fetch(url, { method: "PUT", headers, body: script });
      if (response.ok) return null;
      const problem = await response.json().catch(() => ({}));
      return problem.detail || response.statusText;
    } catch {
      return say("upload_network");
    }
  }

  function failResumable(error) {
    const response = error.originalResponse;
    const status = response ? response.getStatus() : 0;
    const text = response ? response.getBody() : "";
    if (!status) return done(say("upload_network"));
    finish({ status, responseText: text, statusText: error.message });
  }

  function send(form, file) {
    const request = new XMLHttpRequest();
    const body = new FormData();
    for (const name of ["title", "description", "language"]) {
      const value = form.elements[name]?.value.trim();
      if (value) body.append(name, value);
    }
    const script = scriptOf(form);
    if (script) body.append("script", script);
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

  function finish(request, scriptProblem = null) {
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
      if (scriptProblem) status.append(` ${say("script_refused")} ${scriptProblem}`);
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

  function paused(on) {
    pause.hidden = on;
    resume.hidden = !on;
    (on ? resume : pause).focus();
  }

  function busy(on) {
    progressBox.hidden = !on;
    cancel.hidden = !on;
    pause.hidden = !on || !tus;
    resume.hidden = true;
    submit.disabled = on;
    if (on) {
      progress.value = 0;
      cancel.focus();
    } else if ([cancel, pause, resume].includes(document.activeElement) || !document.activeElement) {
      submit.focus();
    }
  }
}

// The script field's text, or null when it is blank (a blank script is no script).
function scriptOf(form) {
  const script = form.elements.script?.value ?? "";
  return script.trim() ? script : null;
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
