// amps player API for host pages: a Promise-based wrapper over postMessage.
//   <script src="https://amps.example/static/amps-api.js"></script>
//   const player = new AmpsPlayer(document.querySelector("iframe"));
//   player.on("timeupdate", (state) => ...); await player.play(); await player.seek(65);
// Protocol and events: docs/embed-api.md.
(() => {
  const TIMEOUT_MS = 5000;

  class AmpsPlayer {
    constructor(iframe) {
      this.iframe = iframe;
      this.origin = new URL(iframe.src, location.href).origin;
      this.handlers = {};
      this.pending = new Map();
      this.sequence = 0;
      this.state = null;
      this.ready = new Promise((resolve) => (this._ready = resolve));
      this._listener = (event) => this._receive(event);
      window.addEventListener("message", this._listener);
      this._greet();
    }

    // The player announces "ready" when it loads; say hello until it answers, in case it
    // loaded before this object existed.
    _greet() {
      let answered = false;
      this.ready.then(() => (answered = true));
      const hello = () => {
        if (answered) return;
        this.iframe.contentWindow?.postMessage({ amps: 1, method: "hello" }, this.origin);
        setTimeout(hello, 250);
      };
      hello();
    }

    _receive(event) {
      const message = event.data;
      if (event.source !== this.iframe.contentWindow || event.origin !== this.origin) return;
      if (!message || message.amps !== 1) return;
      if (message.state) this.state = message.state;
      if (message.requestId !== undefined && this.pending.has(message.requestId)) {
        const { resolve, reject, timer } = this.pending.get(message.requestId);
        this.pending.delete(message.requestId);
        clearTimeout(timer);
        message.error ? reject(new Error(message.error)) : resolve(message.state);
        return;
      }
      if (!message.event) return;
      if (message.event === "ready") this._ready(message.state);
      for (const fn of this.handlers[message.event] || []) fn(message.state, message);
    }

    _call(method, ...args) {
      return this.ready.then(
        () =>
          new Promise((resolve, reject) => {
            const requestId = ++this.sequence;
            const timer = setTimeout(() => {
              this.pending.delete(requestId);
              reject(new Error(`amps player did not answer ${method}`));
            }, TIMEOUT_MS);
            this.pending.set(requestId, { resolve, reject, timer });
            const message = { amps: 1, method, args, requestId };
            this.iframe.contentWindow.postMessage(message, this.origin);
          }),
      );
    }

    on(event, fn) {
      (this.handlers[event] ||= []).push(fn);
      return this;
    }

    off(event, fn) {
      this.handlers[event] = (this.handlers[event] || []).filter((h) => h !== fn);
      return this;
    }

    play() { return this._call("play"); }
    pause() { return this._call("pause"); }
    seek(seconds) { return this._call("seek", seconds); }
    setVolume(volume) { return this._call("setVolume", volume); }
    mute() { return this._call("mute"); }
    unmute() { return this._call("unmute"); }
    getState() { return this._call("getState"); }

    destroy() {
      window.removeEventListener("message", this._listener);
    }
  }

  window.AmpsPlayer = AmpsPlayer;
})();
