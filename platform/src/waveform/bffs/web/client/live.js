// Live updates from /api/live: a WebSocket (subprotocol waveform.live.v1), falling back to
// server-sent events (/api/live/sse) when no WebSocket gets through. The session cookie
// authenticates both. After a drop it reconnects after the server's hint (a close reason
// {"retry_ms": n}) or a jittered backoff, resuming after the last event it had (?since= on
// the socket; EventSource sends Last-Event-ID on its own). Close 1008 means the session
// ended: it stops and says so.

const PROTOCOL = "waveform.live.v1";
const LOGGED_OUT = 1008;
const MAX_BACKOFF_MS = 30000;

function jitter(ms) {
  return Math.round(ms / 2 + Math.random() * ms);
}

function retryHint(reason) {
  try {
    const hint = JSON.parse(reason);
    if (hint && Number.isFinite(hint.retry_ms)) return hint.retry_ms;
  } catch (_) {
    // not a hint: the backoff decides
  }
  return null;
}

export class Live {
  /**
   * new Live({onEvent, onGap, onEnded, onState}).start()
   * onEvent(event): a post, repost or like; onGap(): events were lost (reload);
   * onEnded(): the session is over (1008); onState("live" | "reconnecting" | "sse").
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.lastId = null;
    this.socket = null;
    this.source = null;
    this.timer = null;
    this.failures = 0;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.failures = 0;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "bye");
    if (this.source) this.source.close();
    this.socket = null;
    this.source = null;
  }

  connect() {
    const url = new URL("/api/live", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (this.lastId) url.searchParams.set("since", this.lastId);
    const socket = new WebSocket(url, [PROTOCOL]);
    let opened = false;
    this.socket = socket;
    socket.addEventListener("open", () => {
      opened = true;
      this.failures = 0;
      this.handlers.onState("live");
    });
    socket.addEventListener("message", (message) => this.deliver(message.data, null));
    socket.addEventListener("close", (closed) => {
      if (this.socket === socket) this.socket = null;
      if (this.stopped) return;
      if (closed.code === LOGGED_OUT) {
        this.stopped = true;
        this.handlers.onEnded();
        return;
      }
      this.failures += 1;
      // Never opened, twice: something between here and the BFF refuses WebSockets.
      if (!opened && this.failures >= 2) {
        this.connectEvents();
        return;
      }
      this.later(retryHint(closed.reason), () => this.connect());
    });
  }

  connectEvents() {
    const source = new EventSource("/api/live/sse");
    this.source = source;
    source.addEventListener("open", () => {
      this.failures = 0;
      this.handlers.onState("sse");
    });
    source.addEventListener("message", (message) => this.deliver(message.data, message.lastEventId));
    source.addEventListener("gap", () => this.handlers.onGap());
    source.addEventListener("error", () => {
      if (this.stopped || source.readyState !== EventSource.CLOSED) return;
      // Refused outright (a 401 after logout, a 429): ask whether the session still holds.
      this.source = null;
      this.failures += 1;
      this.handlers.onState("reconnecting");
      this.handlers.onRefused().then((alive) => {
        if (alive && !this.stopped) this.later(null, () => this.connectEvents());
      });
    });
  }

  later(hintMs, connect) {
    this.handlers.onState("reconnecting");
    const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.failures, 6));
    this.timer = setTimeout(connect, jitter(hintMs ?? backoff));
  }

  deliver(data, eventId) {
    let event;
    try {
      event = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (event.type === "gap") {
      this.handlers.onGap();
      return;
    }
    const id = event.id || eventId;
    if (id) this.lastId = id;
    this.handlers.onEvent(event);
  }
}
