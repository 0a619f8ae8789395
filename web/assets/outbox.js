// Outbox page: every SMS and email the local stack would have sent (GET /local/outbox), and the
// lock's commands with their states and the webhook lock's calls (GET /local/lock).

import { clock, element, getLocal, linkified, poll, whenChanged } from "./local.js";

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

const LOCKS = {
  iot: "the door agent's relay, over the local MQTT broker",
  webhook: "a lock with an HTTP API: the local receiver /local/lock-webhook",
  none: "no lock (smartdoor local --lock none): the keypad's answer is the door's",
};
const lockCommands = document.getElementById("lock-commands");
const lockStatus = document.getElementById("lock-status");

const renderLock = whenChanged((lock) => {
  const broker = lock.mqtt ? ` Broker: ${lock.mqtt.host}:${lock.mqtt.port}.` : "";
  lockStatus.textContent = `Lock: ${LOCKS[lock.lock] || lock.lock}.${broker} ${lock.commands.length} command${
    lock.commands.length === 1 ? "" : "s"
  }.`;
  const calls = lock.webhookCalls.filter(Boolean);
  const items = lock.commands
    .map((command) => {
      const item = element("li", `message lock-command lock-${command.state}`);
      item.dataset.commandId = command.commandId;
      item.dataset.state = command.state;
      const head = element("p", "message-head");
      head.append(
        element("span", "badge", command.state),
        document.createTextNode(` via ${command.via} at `),
        element("time", "", command.updatedAt ? clock(command.updatedAt) : "?"),
      );
      item.append(head, element("p", "message-body", `Command ${command.commandId} for ${command.doorId}`));
      const answered = calls.filter((call) => call.body && call.body.commandId === command.commandId);
      for (const call of answered) {
        const key = call.authorized ? "right key" : "no or a wrong key";
        item.append(element("p", "muted", `Webhook call at ${clock(call.receivedAt)}: ${key}, answered ${call.status}`));
      }
      return item;
    })
    .reverse();
  lockCommands.replaceChildren(...items);
});

poll(async () => render(await getLocal("/local/outbox")), status);
poll(async () => renderLock(await getLocal("/local/lock")), lockStatus);
