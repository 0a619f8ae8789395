// Shared by the owner and door pages: the site's config.json and calls to the Smart Door API.

const REQUEST_TIMEOUT_MS = 10000;

/** Thrown when the API cannot be reached (offline, DNS, timeout, CORS refusal). */
export class NetworkError extends Error {}

/**
 * Read config.json, written beside the pages at deploy time: {"apiUrl": "...", "doorId"?: "..."}.
 * The pages live one folder down (/owner/, /door/), so the file is at ../config.json.
 */
export async function loadConfig() {
  let response;
  try {
    response = await fetch(new URL("../config.json", document.baseURI), { cache: "no-store" });
  } catch (error) {
    throw new NetworkError(`config.json could not be fetched: ${error}`);
  }
  if (!response.ok) {
    throw new NetworkError(`config.json answered ${response.status}`);
  }
  const config = await response.json();
  if (typeof config.apiUrl !== "string" || config.apiUrl === "") {
    throw new NetworkError("config.json has no apiUrl");
  }
  return { apiUrl: config.apiUrl.replace(/\/+$/, ""), doorId: config.doorId || null };
}

/**
 * Call the API. Resolves to {status, data} for every HTTP answer (including 4xx/5xx, which the
 * pages turn into states); rejects with NetworkError only when no answer arrived.
 */
export async function callApi(config, method, path, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  const init = { method, signal: controller.signal, cache: "no-store", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(config.apiUrl + path, init);
  } catch (error) {
    throw new NetworkError(`${method} ${path} failed: ${error}`);
  } finally {
    clearTimeout(timer);
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  return { status: response.status, data };
}

/** Show exactly one of the page's state sections (each has data-state="<name>"). */
export function showState(root, name) {
  for (const section of root.querySelectorAll("[data-state]")) {
    section.hidden = section.dataset.state !== name;
  }
  root.dataset.current = name;
}

/** "14:05" in the reader's locale and time zone. */
export function formatClock(isoOrDate) {
  const date = isoOrDate instanceof Date ? isoOrDate : new Date(isoOrDate);
  return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(date);
}

/** "Tue 14:05" style: day and time, for when a visitor was seen. */
export function formatWhen(isoOrDate) {
  const date = isoOrDate instanceof Date ? isoOrDate : new Date(isoOrDate);
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).format(date);
}
