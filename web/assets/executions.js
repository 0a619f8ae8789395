// Executions page: each workflow execution and the states it entered (GET /local/executions).

import { clock, element, getLocal, poll, whenChanged } from "./local.js";

const list = document.getElementById("executions");
const status = document.getElementById("executions-status");

const render = whenChanged((executions) => {
  status.textContent = executions.length
    ? `${executions.length} execution${executions.length === 1 ? "" : "s"}.`
    : "No workflow has run yet. Ring at the door camera.";
  const items = executions
    .map((execution) => {
      const item = element("li", `execution status-${execution.status.toLowerCase()}`);
      item.dataset.workflow = execution.workflow;
      item.dataset.status = execution.status;
      const head = element("p", "execution-head");
      head.append(
        element("strong", "", execution.workflow.replace("_", " ")),
        document.createTextNode(" "),
        element("span", "badge", execution.status),
        document.createTextNode(` started ${clock(execution.startedAt)}`),
      );
      if (execution.visitId) {
        head.append(document.createTextNode(` · visit ${execution.visitId}`));
      }
      item.append(head);
      const path = element("ol", "state-path");
      path.setAttribute("aria-label", "States entered, in order");
      for (const state of execution.path) {
        path.append(element("li", "state", state));
      }
      item.append(path);
      if (execution.error) {
        item.append(element("p", "execution-error", `Error: ${execution.error}`));
      }
      return item;
    })
    .reverse();
  list.replaceChildren(...items);
});

poll(async () => render(await getLocal("/local/executions")), status);
