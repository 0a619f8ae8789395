// The owner app: registers the service worker (owner/sw.js) and lets the owner turn Web Push
// notifications on or off for this device from the page of a pending request (the request's
// link is what authenticates the subscription: docs/notifications.md).

import { NetworkError, callApi, loadConfig } from "./api.js";

const onButton = document.getElementById("notify-on");
const offButton = document.getElementById("notify-off");
const statusLine = document.getElementById("notify-status");

const IOS_HINT =
  "This browser cannot show notifications from this page. On an iPhone or iPad (iOS 16.4 or " +
  "later): tap Share, then Add to Home Screen, open Smart Door from the home screen and tap " +
  "“Notify me on this device” there. Until then you get an SMS.";

function say(text) {
  statusLine.textContent = text;
}

function show(subscribed) {
  onButton.hidden = subscribed;
  offButton.hidden = !subscribed;
}

function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** The VAPID key (base64url) as the bytes PushManager.subscribe wants. */
function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function subscriptionPath(approvalId) {
  return `/approvals/${encodeURIComponent(approvalId)}/push-subscription`;
}

// "../owner/": the page is served at /owner/ and at /owner (like its ../assets/).
const APP_SCOPE = new URL("../owner/", document.baseURI);

async function registration() {
  await navigator.serviceWorker.register(new URL("sw.js", APP_SCOPE), { scope: APP_SCOPE.href });
  return navigator.serviceWorker.ready;
}

async function turnOn(config, approvalId) {
  onButton.disabled = true;
  try {
    if ((await Notification.requestPermission()) !== "granted") {
      say("Notifications are blocked for this site: allow them in the browser's settings, then try again.");
      return;
    }
    const key = await callApi(config, "GET", "/push/key");
    if (key.status !== 200) {
      say(`Smart Door could not give its notification key (${key.status}).`);
      return;
    }
    const worker = await registration();
    let subscription;
    try {
      subscription = await worker.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(key.data.publicKey),
      });
    } catch (error) {
      say(`This browser's push service refused the subscription (${error.name}). You still get an SMS.`);
      return;
    }
    const saved = await callApi(config, "POST", subscriptionPath(approvalId), subscription.toJSON());
    if (saved.status === 200 || saved.status === 201) {
      say("This device will be notified of the next visitor. You get an SMS only if a notification fails.");
      show(true);
    } else {
      await subscription.unsubscribe();
      say(saved.data.error ? `Not saved: ${saved.data.error}.` : `Not saved (${saved.status}).`);
    }
  } catch (error) {
    if (!(error instanceof NetworkError)) {
      throw error;
    }
    say("Smart Door could not be reached: try again.");
  } finally {
    onButton.disabled = false;
  }
}

async function turnOff(config, approvalId) {
  offButton.disabled = true;
  try {
    const worker = await registration();
    const subscription = await worker.pushManager.getSubscription();
    if (subscription) {
      // Forget it on both ends; if the API call fails, the next push answers 410 and it goes anyway.
      await callApi(config, "DELETE", subscriptionPath(approvalId), { endpoint: subscription.endpoint }).catch(
        () => null,
      );
      await subscription.unsubscribe();
    }
    say("This device will not be notified any more. You get an SMS instead.");
    show(false);
  } finally {
    offButton.disabled = false;
  }
}

async function start() {
  if (!pushSupported()) {
    say(IOS_HINT);
    return;
  }
  const approvalId = new URLSearchParams(window.location.search).get("a");
  const worker = await registration();
  if (!approvalId) {
    return; // the app's start page: the worker is ready for pushes, nothing to (un)subscribe with
  }
  const config = await loadConfig();
  const subscribed = (await worker.pushManager.getSubscription()) !== null;
  show(subscribed);
  if (subscribed) {
    say("This device is notified of new visitors.");
  }
  onButton.addEventListener("click", () => turnOn(config, approvalId));
  offButton.addEventListener("click", () => turnOff(config, approvalId));
}

start().catch((error) => say(`Notifications are unavailable here (${error.name || error}).`));
