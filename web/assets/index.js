// The site's index: the door keypad and the owner's page everywhere; the local stack's own pages
// (camera, outbox, executions) only where config.json says this is the local stack.

const APPROVAL_LINK = /https?:\/\/[^\s<>"']+\/owner\/\?a=[A-Za-z0-9_.-]+/g;

async function fetchJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`${path} answered ${response.status}`);
  }
  return response.json();
}

/** The newest approval link in the local outbox, or null. */
async function newestApprovalLink() {
  const messages = await fetchJson("local/outbox");
  let newest = null;
  for (const message of messages) {
    for (const match of String(message.body || "").matchAll(APPROVAL_LINK)) {
      newest = match[0];
    }
  }
  return newest;
}

async function start() {
  let config;
  try {
    config = await fetchJson("config.json");
  } catch {
    return; // the static list still works
  }
  if (typeof config.doorId === "string" && /^[a-z0-9][a-z0-9-]{0,31}$/.test(config.doorId)) {
    document.getElementById("door-link").href = `door/?door=${encodeURIComponent(config.doorId)}`;
  }
  if (config.localStack !== true) {
    return;
  }
  for (const item of document.querySelectorAll("[data-local]")) {
    item.hidden = false;
  }
  const help = document.getElementById("owner-help");
  try {
    const link = await newestApprovalLink();
    if (link) {
      const url = new URL(link);
      document.getElementById("owner-link").href = url.pathname + url.search;
      help.textContent = "— the newest approval request in the outbox.";
    } else {
      help.textContent = "— no approval request yet: ring at the door camera; its link lands in the outbox.";
    }
  } catch {
    // The outbox could not be read: keep the general explanation.
  }
}

start();
