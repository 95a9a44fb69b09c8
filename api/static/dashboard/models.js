import { getJson, requireToken } from "./api.js";
import { clear, el, formatTime, notice, shortId } from "./dom.js";

export function metricSummary(metrics) {
  return Object.entries(metrics || {})
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`)
    .join(", ");
}

function row(model) {
  return el(
    "tr",
    { "data-model-id": model.id },
    el("td", {}, el("a", { href: `/dashboard/models/${encodeURIComponent(model.id)}` }, el("code", { text: shortId(model.id) }))),
    el("td", { text: model.kind }),
    el("td", { text: model.version }),
    el("td", { text: metricSummary(model.metrics) }),
    el("td", {}, el("a", { href: `/dashboard/jobs/${encodeURIComponent(model.training_job_id)}` }, el("code", { text: shortId(model.training_job_id) }))),
    el("td", {}, el("code", { class: "hash", text: model.dataset_sha256 || "—" })),
    el("td", { text: formatTime(model.created_at) }),
  );
}

async function main() {
  if (!requireToken()) return;
  try {
    const { models } = await getJson("/v1/models");
    clear(document.querySelector("#models tbody")).append(...models.map(row));
    document.getElementById("empty").hidden = models.length > 0;
  } catch (error) {
    notice(`Could not list models: ${error.message}`);
  }
}

if (document.getElementById("models")) main();
