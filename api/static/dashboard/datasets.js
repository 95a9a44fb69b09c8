import { getJson, request, requireToken, uploadDataset } from "./api.js";
import { clear, el, formatBytes, formatTime, notice } from "./dom.js";

const body = document.querySelector("#datasets tbody");
const empty = document.getElementById("empty");
const form = document.getElementById("upload-form");
const file = document.getElementById("upload-file");
const progress = document.getElementById("upload-progress");

// Deleting takes two clicks: the first arms the button, the second deletes.
function deleteButton(dataset) {
  const button = el("button", { type: "button", class: "danger", text: "Delete" });
  button.setAttribute("aria-label", `Delete ${dataset.name}`);
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.textContent = "Really delete?";
      return;
    }
    try {
      await request(`/v1/datasets/${encodeURIComponent(dataset.id)}`, { method: "DELETE" });
      notice("");
      await refresh();
    } catch (error) {
      notice(error.status === 409
        ? `Cannot delete ${dataset.name}: a queued or running job uses it (${error.message}).`
        : `Could not delete ${dataset.name}: ${error.message}`);
      button.dataset.armed = "";
      button.textContent = "Delete";
    }
  });
  return button;
}

function row(dataset) {
  return el(
    "tr",
    { "data-dataset-id": dataset.id },
    el("td", { class: "name", text: dataset.name }),
    el("td", { text: formatBytes(dataset.size) }),
    el("td", {}, el("code", { class: "hash", text: dataset.sha256 })),
    el("td", { text: formatTime(dataset.created_at) }),
    el("td", {}, deleteButton(dataset)),
  );
}

async function refresh() {
  const { datasets } = await getJson("/v1/datasets");
  clear(body).append(...datasets.map(row));
  empty.hidden = datasets.length > 0;
}

async function main() {
  if (!requireToken()) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files[0]) return;
    progress.hidden = false;
    progress.value = 0;
    try {
      const dataset = await uploadDataset(file.files[0], (f) => { progress.value = f; });
      notice(`Uploaded ${dataset.name}.`);
      form.reset();
      await refresh();
    } catch (error) {
      notice(`The upload was refused: ${error.message}`);
    } finally {
      progress.hidden = true;
    }
  });
  await refresh().catch((error) => notice(`Could not list datasets: ${error.message}`));
}

main();
