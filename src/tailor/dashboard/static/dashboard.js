// The dashboard page: polls /api/board every refresh_s and redraws. Every value is set as
// text (never as HTML): label values such as client versions come from client headers.
"use strict";

const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(2) + "%");
const num = (x, digits = 2) => (x === null || x === undefined ? "–" : x.toFixed(digits));
const ms = (x) => (x === null || x === undefined ? "–" : x.toFixed(1) + " ms");
const when = (t) => (t ? new Date(t * 1000).toISOString().slice(0, 10) : "–");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function table(caption, headings, rows) {
  if (!rows.length) return null;
  const head = el("tr", {}, ...headings.map(([text, cls]) => el("th", { text, class: cls || "" })));
  const wrap = el("div", { "data-table": caption });
  wrap.append(el("h3", { text: caption }), el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
  return wrap;
}

function cell(text, cls = "", attrs = {}) {
  return el("td", { text, class: cls, ...attrs });
}

function burnClass(burn) {
  if (burn === null) return "muted";
  return burn >= 14.4 ? "burn-bad" : burn >= 1 ? "burn-warn" : "";
}

function renderBff(bff, board) {
  const section = el("section", {
    class: "bff" + (bff.up ? "" : " down"),
    "data-bff": bff.name,
    "data-up": String(bff.up),
  });
  const skewed = bff.skewed;
  const version = el("span", {
    class: "version" + (skewed ? " skew" : ""),
    "data-skew": String(skewed),
    text: bff.version || "unknown",
  });
  section.append(el("h2", {}, el("span", { text: bff.name + " " }), version));
  const summary = el("div", { class: "summary" });
  summary.append(...[
    el("span", { class: bff.up ? "state-up" : "state-down", "data-field": "state", text: bff.up ? "up" : "DOWN" }),
    el("span", { text: `${num(bff.rate)} req/s` }),
    bff.redis_up === null ? null : el("span", {
      class: bff.redis_up ? "state-up" : "state-down", "data-field": "redis", text: bff.redis_up ? "redis up" : "redis DOWN",
    }),
    el("span", { "data-field": "cache", text: `cache hits ${pct(bff.cache_hit_ratio)}` }),
    el("span", { "data-field": "rate-limited", text: `429 ${num(bff.refusals.rate_limited)}/s` }),
    el("span", { "data-field": "shed", text: `shed ${num(bff.refusals.shed)}/s` }),
  ].filter(Boolean));
  for (const slo of bff.slo) {
    summary.append(el("span", {
      class: burnClass(slo.burn),
      "data-field": `burn-${slo.window_s}`,
      text: `burn ${slo.window_s}s ${num(slo.burn)}x`,
    }));
  }
  section.append(summary);
  if (!bff.up) section.append(el("p", { class: "state-down", text: bff.error || "not answering" }));
  const tables = [
    table("Routes", [["route"], ["req/s", "num"], ["errors", "num"], ["p50", "num"], ["p99", "num"]],
      bff.routes.map((r) => el("tr", { "data-route": r.route },
        cell(r.route), cell(num(r.rate), "num"),
        cell(pct(r.error_ratio), "num" + (r.error_ratio > 0 ? " error-bad" : "")),
        cell(ms(r.p50_ms), "num"), cell(ms(r.p99_ms), "num")))),
    table("Upstreams", [["upstream"], ["breaker"], ["calls/s", "num"], ["failed", "num"], ["p99", "num"], ["fail-fast/s", "num"]],
      bff.upstreams.map((u) => el("tr", { "data-upstream": u.upstream },
        cell(u.upstream), cell(u.breaker, `breaker breaker-${u.breaker}`, { "data-state": u.breaker }),
        cell(num(u.rate), "num"), cell(pct(u.error_ratio), "num" + (u.error_ratio > 0 ? " error-bad" : "")),
        cell(ms(u.p99_ms), "num"), cell(num(u.rejected), "num")))),
    table("Degraded parts", [["route"], ["part"], ["reason"], ["per s", "num"]],
      bff.degraded.map((d) => el("tr", {}, cell(d.route), cell(d.part), cell(d.reason), cell(num(d.rate), "num")))),
    table("Clients (since start)", [["app"], ["platform"], ["version"], ["share", "num"]],
      bff.clients.map((c) => el("tr", {}, cell(c.app), cell(c.platform), cell(c.version), cell(pct(c.share), "num")))),
    table("Deprecated routes", [["route"], ["deprecated"], ["sunset"], ["calls/s", "num"]],
      bff.deprecations.map((d) => el("tr", {}, cell(d.route), cell(when(d.deprecated_at)), cell(when(d.sunset_at)), cell(num(d.rate), "num")))),
  ];
  section.append(...tables.filter(Boolean));  // an empty table is left out
  return section;
}

function render(board) {
  document.getElementById("bffs").replaceChildren(...board.bffs.map((b) => renderBff(b, board)));
  const versions = Object.entries(board.versions).map(([v, names]) => `${v} (${names.join(", ")})`);
  const line = document.getElementById("versions");
  line.className = board.skew ? "skew" : "";
  line.setAttribute("data-skew", String(board.skew));
  line.textContent = (board.skew ? "version skew: " : "tailor ") + (versions.join("; ") || "–");
  document.getElementById("status").textContent =
    `updated ${new Date(board.generated_at * 1000).toLocaleTimeString()}, every ${board.refresh_s} s; ` +
    `objective ${pct(board.objective)}`;
}

async function poll() {
  let refresh = 5;
  try {
    const response = await fetch("/api/board", { cache: "no-store" });
    if (!response.ok) throw new Error(`board answered ${response.status}`);
    const board = await response.json();
    refresh = board.refresh_s;
    render(board);
  } catch (err) {
    document.getElementById("status").textContent = `dashboard unreachable (${err.message}); retrying`;
  }
  setTimeout(poll, refresh * 1000);
}

poll();
