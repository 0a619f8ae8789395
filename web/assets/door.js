// Door keypad: the visitor types the 6-digit passcode from their SMS and the door opens.

import { NetworkError, callApi, formatClock, loadConfig, showState } from "./api.js";

const CODE_LENGTH = 6;
const DOOR_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

const main = document.getElementById("main");
const result = document.getElementById("result");
const display = document.getElementById("code-display");
const slots = Array.from(display.querySelectorAll(".code-slot"));
const keys = Array.from(document.querySelectorAll("#keypad button"));
const openButton = document.getElementById("open");
const keypad = document.getElementById("keypad");
const title = document.getElementById("door-title");

let config = null;
let doorId = null;
let code = "";
// The key of the SMS's one-tap link (#<code>.<key>), sent with that code only.
let linkKey = null;
let linkCode = null;
let busy = false;
let lockedUntil = 0; // Date.now() value; 0 when not locked
// Once the door has opened, this page takes no more input: a new visit is a new page load.
let opened = false;

function setResult(name) {
  showState(result, name);
  main.dataset.current = name;
}

function render() {
  slots.forEach((slot, index) => {
    slot.textContent = code[index] || "";
    slot.classList.toggle("filled", index < code.length);
  });
  display.setAttribute("aria-label", `${code.length} of ${CODE_LENGTH} digits entered`);
  const blocked = opened || busy || isLocked() || doorId === null;
  for (const key of keys) {
    key.disabled = blocked;
  }
  openButton.disabled = blocked || code.length !== CODE_LENGTH;
}

function clearCode() {
  code = "";
  render();
}

function isLocked() {
  return Date.now() < lockedUntil;
}

function typeDigit(digit) {
  if (opened || busy || isLocked() || doorId === null || code.length >= CODE_LENGTH) {
    return;
  }
  if (code.length === 0 && main.dataset.current !== "entry") {
    setResult("entry"); // starting a new try hides the last answer
  }
  code += digit;
  render();
}

function deleteDigit() {
  if (!opened && !busy) {
    code = code.slice(0, -1);
    render();
  }
}

function lockUntil(retryAt, doorWide) {
  lockedUntil = retryAt.getTime();
  document.getElementById("locked-where").textContent = doorWide ? "at this door" : "from this network";
  const slot = document.getElementById("retry-at");
  slot.dateTime = retryAt.toISOString();
  slot.textContent = formatClock(retryAt);
  setResult("locked");
  setTimeout(
    () => {
      lockedUntil = 0;
      setResult("entry");
      render();
    },
    Math.max(0, lockedUntil - Date.now()),
  );
}

function retryTime(data) {
  const at = new Date(data.retryAt);
  return Number.isNaN(at.getTime()) ? new Date(Date.now() + 60000) : at;
}

/** An open door (`state`: "granted", or "already" for a repeat of the code that just opened it):
 * the answer replaces the keypad, which is gone until the page is loaded again. */
function showOpen(state) {
  opened = true;
  title.textContent = "Door open";
  document.title = "Door open · Smart Door";
  display.hidden = true;
  keypad.hidden = true;
  document.getElementById("skip-to-keypad").hidden = true;
  setResult(state);
  title.focus();
}

// With a lock, "Door open" waits for the lock's own answer (GET /doors/{doorId}/lock/{commandId}).
const LOCK_POLL_MS = 1000;
// After the command's expiresAt the workflow says no-answer; this margin covers the trip, and a
// tablet clock a little off. A tablet clock far off is bounded by LOCK_WAIT_LIMIT_MS.
const LOCK_GRACE_MS = 10000;
const LOCK_WAIT_LIMIT_MS = 310000;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The code was right and a lock was told: ask it until it opened (unlocked, or already locked
 * again after opening), it did not (no-answer), or the command's life is over. */
async function waitForLock(commandId, expiresAt) {
  opened = true; // the code is spent: no more input on this page
  title.textContent = "Opening…";
  display.hidden = true;
  keypad.hidden = true;
  setResult("opening");
  const untilExpiry = Date.parse(expiresAt) - Date.now();
  const wait = Number.isNaN(untilExpiry) ? LOCK_WAIT_LIMIT_MS : Math.min(Math.max(untilExpiry, 0), LOCK_WAIT_LIMIT_MS);
  const deadline = Date.now() + wait + LOCK_GRACE_MS;
  const path = `/doors/${encodeURIComponent(doorId)}/lock/${encodeURIComponent(commandId)}`;
  while (Date.now() < deadline) {
    try {
      const { status, data } = await callApi(config, "GET", path);
      if (status === 200 && (data.state === "unlocked" || data.state === "locked")) {
        showOpen("granted");
        return;
      }
      if (status === 200 && data.state === "no-answer") {
        break;
      }
    } catch (error) {
      if (!(error instanceof NetworkError)) {
        throw error;
      }
    }
    await sleep(LOCK_POLL_MS);
  }
  showNoAnswer();
}

function showNoAnswer() {
  title.textContent = "Code accepted";
  document.title = "Code accepted · Smart Door";
  document.getElementById("skip-to-keypad").hidden = true;
  setResult("no-answer");
  title.focus();
}

/** The SMS's one-tap link: #<code>.<key> fills the code in; only the Open button sends it.
 * The fragment leaves the address bar at once, so the key is not left in history. */
function readLink() {
  const linked = /^#([0-9]{6})\.([A-Za-z0-9_-]{22})$/.exec(window.location.hash);
  if (window.location.hash && window.location.hash !== "#keypad") {
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (linked) {
    [, linkCode, linkKey] = linked;
    code = linkCode;
    return true;
  }
  return false;
}

async function submit() {
  if (opened || busy || isLocked() || code.length !== CODE_LENGTH || doorId === null) {
    return;
  }
  busy = true;
  const typed = code;
  const body = typed === linkCode ? { otp: typed, key: linkKey } : { otp: typed };
  clearCode();
  setResult("checking");
  try {
    config = config || (await loadConfig());
    const { status, data } = await callApi(config, "POST", `/doors/${encodeURIComponent(doorId)}/unlock`, body);
    if (status === 200 && data.granted === true && data.lock === "pending" && data.commandId) {
      document.getElementById("visitor-name").textContent = data.visitor || "visitor";
      await waitForLock(String(data.commandId), String(data.expiresAt || ""));
    } else if (status === 200 && data.granted === true) {
      document.getElementById("visitor-name").textContent = data.visitor || "visitor";
      showOpen("granted");
    } else if (status === 409 && data.alreadyOpen === true) {
      showOpen("already");
    } else if (status === 403) {
      setResult("denied");
    } else if (status === 429 && data.retryAt) {
      lockUntil(retryTime(data), !String(data.error || "").includes("address"));
    } else if (status === 429) {
      // API Gateway's own throttling (no retryAt): busy, not a lockout.
      document.getElementById("error-detail").textContent = "The door is busy. Try again in a moment.";
      setResult("error");
    } else if (status === 400) {
      document.getElementById("invalid-detail").textContent = data.error || "Enter all 6 digits of the code.";
      setResult("invalid");
    } else {
      document.getElementById("error-detail").textContent =
        `The door service answered with an error (${status}). Try again in a moment.`;
      setResult("error");
    }
  } catch (error) {
    if (!(error instanceof NetworkError)) {
      throw error;
    }
    document.getElementById("error-detail").textContent = "Check the connection, then try again.";
    setResult("error");
  } finally {
    busy = false;
    render();
  }
}

for (const key of keys) {
  if (key.dataset.digit !== undefined) {
    key.addEventListener("click", () => typeDigit(key.dataset.digit));
  }
}
document.getElementById("delete").addEventListener("click", deleteDigit);
openButton.addEventListener("click", submit);

// A physical keyboard works too: digits, Backspace, Enter.
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) {
    return;
  }
  if (/^[0-9]$/.test(event.key)) {
    typeDigit(event.key);
    event.preventDefault();
  } else if (event.key === "Backspace") {
    deleteDigit();
    event.preventDefault();
  } else if (event.key === "Enter" && code.length === CODE_LENGTH) {
    submit();
    event.preventDefault();
  }
});

async function start() {
  const fromQuery = new URLSearchParams(window.location.search).get("door");
  try {
    config = await loadConfig();
  } catch (error) {
    if (!(error instanceof NetworkError)) {
      throw error;
    }
    document.getElementById("error-detail").textContent = "The page could not load its settings. Reload it.";
    setResult("error");
    render();
    return;
  }
  const candidate = fromQuery || config.doorId;
  if (candidate && DOOR_ID.test(candidate)) {
    doorId = candidate;
    setResult(readLink() ? "link" : "entry");
  } else {
    document.getElementById("error-detail").textContent =
      "This keypad does not know its door. Open it with ?door=<door id>.";
    setResult("error");
  }
  render();
}

// The SMS link opened in a tab that already shows this page changes only the fragment.
window.addEventListener("hashchange", () => {
  if (!opened && !busy && doorId !== null && readLink()) {
    lockedUntil = 0; // a code with its link's key is not held back by the keypad's lockout
    setResult("link");
    render();
  }
});

render();
start();
