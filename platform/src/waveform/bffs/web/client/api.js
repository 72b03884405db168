// The web BFF's API on this origin: the session cookie goes along by itself (HttpOnly, the
// page never sees it); unsafe requests echo the CSRF token; POSTs carry an Idempotency-Key
// so that the one retry after a network failure cannot do the command twice.

let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

/** A problem+json answer (RFC 9457) or a network failure. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let onUnauthorized = () => {};

/** What to do when the session is gone (a 401 on any call). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * Call the API: resolves to {status, data, etag}; rejects with ApiError.
 * api("GET", "/api/stream?cursor=abc"); api("PATCH", url, {body, ifMatch: etag})
 */
export async function api(method, path, { body, ifMatch } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (UNSAFE.has(method) && csrfToken) headers["x-csrf-token"] = csrfToken;
  if (ifMatch) headers["if-match"] = ifMatch;
  if (method === "POST") headers["idempotency-key"] = idempotencyKey();
  const init = {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, init);
  } catch (first) {
    if (method !== "GET" && method !== "POST") throw new ApiError(0, { detail: String(first) });
    try {
      response = await fetch(path, init); // the same key: the BFF answers the first result
    } catch (second) {
      throw new ApiError(0, { detail: "the network is unreachable" });
    }
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    if (response.status === 401 && path !== "/api/session") onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return { status: response.status, data, etag: response.headers.get("etag") };
}
