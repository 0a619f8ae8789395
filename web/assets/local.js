// Shared by the local stack's pages (camera, outbox, executions): the local API and safe rendering.

const REQUEST_TIMEOUT_MS = 15000;
const URL_PATTERN = /https?:\/\/[^\s<>"']+/g;

/** GET a local API path (e.g. "/local/outbox"); resolves to the parsed JSON, rejects on failure. */
export async function getLocal(path) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(path, { cache: "no-store", signal: controller.signal });
    if (!response.ok) {
      throw new Error(`${path} answered ${response.status}`);
    }
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

/** A DOM element with a class and text (never HTML: the text is shown as typed). */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined && text !== null) {
    node.textContent = String(text);
  }
  return node;
}

/** Text with every http(s) URL turned into a link; the rest stays text. */
export function linkified(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of String(text).matchAll(URL_PATTERN)) {
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    const link = element("a", "", match[0]);
    link.href = match[0];
    fragment.append(link);
    last = match.index + match[0].length;
  }
  fragment.append(document.createTextNode(String(text).slice(last)));
  return fragment;
}

/** "20:05:37" in the reader's time zone. */
export function clock(iso) {
  return new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).format(new Date(iso));
}

/** `render`, called only for a value unlike (as JSON) the one it last rendered: polls re-render on change. */
export function whenChanged(render) {
  let shown;
  return (value) => {
    const text = JSON.stringify(value);
    if (text === shown) {
      return;
    }
    shown = text;
    render(value);
  };
}

/** Re-run `refresh` every `ms` while the page is visible; shows failures in `status`. */
export function poll(refresh, status, ms = 1500) {
  let running = false;
  async function tick() {
    if (running || document.hidden) {
      return;
    }
    running = true;
    try {
      await refresh();
    } catch (error) {
      status.textContent = `Cannot reach the local stack (${error.message}). Is smartdoor local running?`;
    } finally {
      running = false;
    }
  }
  tick();
  setInterval(tick, ms);
}
