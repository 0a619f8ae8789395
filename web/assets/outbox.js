// Outbox page: every SMS and email the local stack would have sent (GET /local/outbox).

import { clock, element, getLocal, linkified, poll } from "./local.js";

const list = document.getElementById("outbox");
const status = document.getElementById("outbox-status");
let shown = -1;

function render(messages) {
  if (messages.length === shown) {
    return;
  }
  shown = messages.length;
  status.textContent = messages.length
    ? `${messages.length} message${messages.length === 1 ? "" : "s"}.`
    : "Nothing sent yet. Ring at the door camera.";
  const items = messages
    .map((message, index) => {
      const item = element("li", `message message-${message.channel}`);
      item.dataset.index = String(index);
      item.dataset.channel = message.channel;
      const head = element("p", "message-head");
      head.append(
        element("span", "badge", { sms: "SMS", push: "Push" }[message.channel] || "Email"),
        document.createTextNode(" to "),
        element("strong", "message-to", message.to),
        document.createTextNode(" at "),
        element("time", "", clock(message.sentAt)),
      );
      item.append(head);
      if (message.subject) {
        item.append(element("p", "message-subject", message.subject));
      }
      const body = element("p", "message-body");
      body.append(linkified(message.body));
      item.append(body);
      return item;
    })
    .reverse();
  list.replaceChildren(...items);
}

poll(async () => render(await getLocal("/local/outbox")), status);
