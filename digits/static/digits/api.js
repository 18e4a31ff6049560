// The one small API client of the drawing page and the review page: JSON in
// and out, Django's CSRF token on every write. An HTTP error comes back as
// {ok: false, status, data, retryAfter}; only a network failure throws, so a
// caller can tell "the server said no" from "no server at all".

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) return meta.content;
  const holder = document.querySelector("[data-csrf-token]");
  return holder ? holder.dataset.csrfToken : "";
}

export async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = csrfToken();
  }
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data;
  try {
    data = await response.json();
  } catch (_) {
    data = { detail: `The server answered ${response.status}.` };
  }
  const retryAfter = parseFloat(response.headers.get("Retry-After"));
  return { ok: response.ok, status: response.status, data, retryAfter: retryAfter > 0 ? retryAfter : 1 };
}

export const getJSON = (url) => api(url);
export const postJSON = (url, body) => api(url, { method: "POST", body });

export function detailText(data) {
  return typeof data?.detail === "string" ? data.detail : "The server refused that.";
}

export function decodeBytes(base64) {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
