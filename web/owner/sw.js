// The owner app's service worker (scope /owner/): shows each pushed request as a notification
// with the visitor's photo and "Approve…" / "Deny" actions. An action or a tap only opens the
// owner page at that request: the decision is still the owner's POST there, never the tap itself.
// The push payload (docs/notifications.md) is {title, body, url, image, tag, expiresAt}.

const SCOPE = new URL("./", self.location.href);

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function sameSiteOwnerPage(url) {
  // Only ever open the owner page of this site, whatever a payload says.
  try {
    const target = new URL(url, SCOPE);
    return target.origin === SCOPE.origin && target.pathname.startsWith(SCOPE.pathname) ? target : null;
  } catch {
    return null;
  }
}

function photoLink(url) {
  // A presigned S3 link (https) or, on the local stack, the site's own photo link.
  try {
    const link = new URL(url);
    return link.protocol === "https:" || link.origin === SCOPE.origin;
  } catch {
    return false;
  }
}

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = {};
  }
  const page = sameSiteOwnerPage(message.url || "./");
  const title = message.title || "Someone is at your door";
  const options = {
    body: message.body || "Open Smart Door to approve or deny.",
    icon: new URL("icon-192.png", SCOPE).href,
    badge: new URL("badge-96.png", SCOPE).href,
    tag: message.tag || "smartdoor-request",
    renotify: true,
    requireInteraction: true,
    data: { url: page ? page.href : SCOPE.href, expiresAt: message.expiresAt || null },
    actions: [
      { action: "approve", title: "Approve…" },
      { action: "deny", title: "Deny" },
    ],
  };
  if (photoLink(message.image)) {
    options.image = message.image;
  }
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = sameSiteOwnerPage(event.notification.data?.url || "./") || new URL(SCOPE.href);
  if (event.action === "approve" || event.action === "deny") {
    // The page only prepares that choice (focus, highlight); the owner still confirms it.
    target.searchParams.set("intent", event.action);
  }
  event.waitUntil(openOwnerPage(target.href));
});

async function openOwnerPage(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (client.url === url && "focus" in client) {
      return client.focus();
    }
  }
  return self.clients.openWindow(url);
}
