// Owner page: shows one approval request (GET) and sends the owner's decision (POST).
// Opening the link never decides anything: mail scanners prefetch links.

import { NetworkError, callApi, formatClock, formatWhen, loadConfig, showState } from "./api.js";

// The link's id is <approvalRef>.<mac> (docs/api.md); the API checks the MAC, this only turns
// away what cannot be one (a link cut short by a mail client, say) without asking the API.
const APPROVAL_ID = /^[A-Za-z0-9_-]{16,128}\.[A-Za-z0-9_-]{22}$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const CONTROL_CHARS = /\p{C}/u;
const MAX_NAME = 64;

const main = document.getElementById("main");
const form = document.getElementById("decision-form");
const nameInput = document.getElementById("name");
const phoneInput = document.getElementById("phone");
const approveButton = document.getElementById("approve");
const denyButton = document.getElementById("deny");
const formError = document.getElementById("form-error");

let config = null;
let approvalId = null;
let countdownTimer = null;
let deadline = null; // performance.now() value at which the request expires

function setState(name) {
  if (name !== "pending") {
    stopCountdown();
  }
  showState(main, name);
  const heading = main.querySelector(`[data-state="${name}"] h1, [data-state="${name}"] h2`);
  if (heading && name !== "loading") {
    heading.tabIndex = -1;
    heading.focus();
  }
}

function showNetworkError(message) {
  document.getElementById("error-detail").textContent = message;
  setState("error");
}

/** "10:02" today, "Tue 10:02:07" on another day: when a request was decided or expired. */
function formatMoment(iso) {
  const date = new Date(iso);
  return date.toDateString() === new Date().toDateString() ? formatClock(date) : formatWhen(date);
}

/** How the request ended, from the API's outcome, decidedAt / expiredAt and visitor. */
function outcomeText(data) {
  if (data.outcome === "approved" && data.decidedAt) {
    const when = `Already approved at ${formatMoment(data.decidedAt)}`;
    return data.visitor ? `${when} — ${data.visitor} was let in.` : `${when}.`;
  }
  if (data.outcome === "denied" && data.decidedAt) {
    return `Denied at ${formatMoment(data.decidedAt)}: the visitor was not let in.`;
  }
  if (data.outcome === "expired" && data.expiredAt) {
    return `Expired at ${formatMoment(data.expiredAt)}.`;
  }
  return "This request was already decided.";
}

function showDecided(data) {
  document.getElementById("decided-how").textContent = outcomeText(data);
  setState("decided");
}

function showExpired(data) {
  const line = document.getElementById("expired-at");
  line.hidden = !data.expiredAt;
  line.textContent = data.expiredAt ? outcomeText(data) : "";
  setState("expired");
}

/** Map an answer of either call to a page state; returns true when the answer was handled. */
function showOutcome(status, data) {
  if (status === 404) {
    setState("notfound");
  } else if (status === 409 && data.status !== "PENDING") {
    // (409 PENDING: the owner was not asked yet; the caller says "try again".)
    showDecided(data);
  } else if (status === 410) {
    // Gone: expired, or decided already (status "DECIDED", with how and when).
    if (data.status === "EXPIRED") {
      showExpired(data);
    } else {
      showDecided(data);
    }
  } else {
    return false;
  }
  return true;
}

function stopCountdown() {
  if (countdownTimer !== null) {
    clearInterval(countdownTimer);
    countdownTimer = null;
  }
}

function renderCountdown() {
  const left = Math.max(0, Math.round((deadline - performance.now()) / 1000));
  const minutes = Math.floor(left / 60);
  const seconds = String(left % 60).padStart(2, "0");
  document.getElementById("time-left").textContent = `${minutes}:${seconds}`;
  if (left === 0) {
    setState("expired");
  }
}

function startCountdown(expiresAt, serverNow) {
  // Count from the server's clock, not the phone's: a phone a few minutes off still shows the truth.
  const remainingMs = Date.parse(expiresAt) - (serverNow ? Date.parse(serverNow) : Date.now());
  deadline = performance.now() + remainingMs;
  stopCountdown();
  renderCountdown();
  countdownTimer = setInterval(renderCountdown, 1000);
}

function showPending(data) {
  const photo = document.getElementById("photo");
  if (data.photoUrl) {
    photo.src = data.photoUrl;
  } else {
    photo.hidden = true;
  }
  const frameDetails = document.getElementById("frame-details");
  if (data.frameUrl) {
    document.getElementById("frame").src = data.frameUrl; // lazy: fetched when opened
  } else {
    frameDetails.hidden = true;
  }
  const seen = document.getElementById("seen-at");
  seen.dateTime = data.seenAt;
  seen.textContent = formatWhen(data.seenAt);
  document.getElementById("door-name").textContent = data.doorName || data.doorId || "your door";
  setState("pending");
  startCountdown(data.expiresAt, data.now);
}

async function loadApproval() {
  setState("loading");
  try {
    config = config || (await loadConfig());
    const { status, data } = await callApi(config, "GET", `/approvals/${encodeURIComponent(approvalId)}`);
    if (status === 200 && data.status === "PENDING") {
      showPending(data);
    } else if (!showOutcome(status, data)) {
      showNetworkError(`Smart Door answered with an error (${status}). Try again in a moment.`);
    }
  } catch (error) {
    if (!(error instanceof NetworkError)) {
      throw error;
    }
    showNetworkError("Check your connection, then try again.");
  }
}

function setFieldError(input, message) {
  const slot = document.getElementById(`${input.id}-error`);
  slot.textContent = message || "";
  slot.hidden = !message;
  if (message) {
    input.setAttribute("aria-invalid", "true");
  } else {
    input.removeAttribute("aria-invalid");
  }
}

function clearErrors() {
  setFieldError(nameInput, "");
  setFieldError(phoneInput, "");
  formError.hidden = true;
  formError.textContent = "";
}

/** The same rules as the API, checked first so the owner gets instant help. */
function validateForApproval(name, phone) {
  const problems = [];
  if (name.length === 0) {
    problems.push([nameInput, "Enter the visitor's name."]);
  } else if ([...name].length > MAX_NAME || CONTROL_CHARS.test(name)) {
    problems.push([nameInput, `Use up to ${MAX_NAME} letters, digits, spaces or punctuation.`]);
  }
  if (phone.length === 0) {
    problems.push([phoneInput, "Enter the visitor's mobile number."]);
  } else if (!E164.test(phone)) {
    problems.push([phoneInput, "Use international format, for example +15551234567."]);
  }
  return problems;
}

function setBusy(busy) {
  approveButton.disabled = busy;
  denyButton.disabled = busy;
  form.setAttribute("aria-busy", busy ? "true" : "false");
}

async function decide(decision) {
  clearErrors();
  const name = nameInput.value.trim();
  const phone = phoneInput.value.replace(/[\s().-]/g, "");
  const body = { decision };
  if (decision === "approve") {
    const problems = validateForApproval(name, phone);
    if (problems.length > 0) {
      for (const [input, message] of problems) {
        setFieldError(input, message);
      }
      problems[0][0].focus();
      return;
    }
    body.name = name;
    body.phone = phone;
  }
  setBusy(true);
  try {
    const { status, data } = await callApi(
      config,
      "POST",
      `/approvals/${encodeURIComponent(approvalId)}`,
      body,
    );
    if (status === 200) {
      if (data.status === "DENIED") {
        setState("denied");
      } else {
        document.getElementById("approved-name").textContent = data.name || name;
        setState("approved");
      }
    } else if (status === 400) {
      const input = { name: nameInput, phone: phoneInput }[data.field];
      if (input) {
        setFieldError(input, data.error || "Check this field.");
        input.focus();
      } else {
        formError.textContent = data.error || "Smart Door could not read the decision.";
        formError.hidden = false;
      }
    } else if (!showOutcome(status, data)) {
      formError.textContent = `Smart Door answered with an error (${status}). Try again.`;
      formError.hidden = false;
    }
  } catch (error) {
    if (!(error instanceof NetworkError)) {
      throw error;
    }
    showNetworkError("Your decision may not have arrived. Try again to see where it stands.");
  } finally {
    setBusy(false);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  decide("approve");
});
denyButton.addEventListener("click", () => decide("deny"));
document.getElementById("retry").addEventListener("click", () => loadApproval());

const query = new URLSearchParams(window.location.search);
approvalId = query.get("a");
if (!approvalId && query.has("app")) {
  // Opened from the home screen (the manifest's start_url): nothing to decide yet.
  setState("app");
} else if (!approvalId || !APPROVAL_ID.test(approvalId)) {
  setState("notfound");
} else {
  loadApproval().then(() => prepareIntent(query.get("intent")));
}

/** A notification's "Approve…" or "Deny" opened the page: prepare that choice, decide nothing. */
function prepareIntent(intent) {
  if (main.dataset.current !== "pending") {
    return;
  }
  if (intent === "approve") {
    nameInput.focus();
  } else if (intent === "deny") {
    denyButton.focus();
  }
}
