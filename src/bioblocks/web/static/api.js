// Talking to the server: JSON and binary reads, Eve error envelopes, paging, the token.

const TOKEN_KEY = "bioblocks.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** The message of an Eve error envelope, or the status text. */
async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body._error && body._error.message) message = body._error.message;
    if (body && body._issues) message += ` (${JSON.stringify(body._issues)})`;
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

function headers(extra = {}) {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}`, ...extra } : extra;
}

/** GET a URL and parse JSON; throw ApiError with the envelope's message on failure. */
export async function getJSON(url) {
  const response = await fetch(url, { headers: headers({ Accept: "application/json" }) });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/** GET a text file; return null on 404, throw on other failures. */
export async function getText(url, { optional = false } = {}) {
  const response = await fetch(url, { headers: headers() });
  if (optional && response.status === 404) return null;
  if (!response.ok) throw await errorOf(response);
  return response.text();
}

/** GET binary; return { buffer, headers }. */
export async function getBinary(url) {
  const response = await fetch(url, {
    headers: headers({ Accept: "application/octet-stream" }),
  });
  if (!response.ok) throw await errorOf(response);
  return { buffer: await response.arrayBuffer(), headers: response.headers };
}

/** POST JSON; return the parsed reply. */
export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "application/json" }),
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/**
 * Every item of an Eve collection, following `_links.next` (hrefs are relative to the
 * root). Eve drops `embedded` and `projection` from those hrefs, so they are carried over.
 */
export async function listAll(url) {
  const first = new URL(url, location.origin);
  const carried = ["embedded", "projection"].filter((key) => first.searchParams.has(key));
  const items = [];
  let next = first;
  for (let page = 0; next && page < 1000; page++) {
    const body = await getJSON(next.pathname + next.search);
    items.push(...(body._items || []));
    const link = body._links && body._links.next;
    if (!link) break;
    next = new URL(link.href.startsWith("/") ? link.href : `/${link.href}`, location.origin);
    for (const key of carried) {
      if (!next.searchParams.has(key)) next.searchParams.set(key, first.searchParams.get(key));
    }
  }
  return items;
}
