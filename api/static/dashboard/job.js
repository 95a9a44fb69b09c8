import { ApiError, blobUrl, getJson, request, requireToken } from "./api.js";
import {
  FINISHED, clear, definitionList, el, formatBytes, formatDuration, formatTime, notice,
  parseCsv, stateBadge, table,
} from "./dom.js";

const POLL_MS = 1000;
const CSV_PREVIEW_ROWS = 21; // the header and 20 rows

const jobId = document.body.dataset.jobId;
const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
const section = document.getElementById("job");
const cancel = document.getElementById("cancel");
let artifactsShown = false;

function isCsv(artifact) {
  return artifact.media_type === "text/csv" || artifact.name.endsWith(".csv");
}

function isPng(artifact) {
  return artifact.media_type === "image/png" || artifact.name.endsWith(".png");
}

async function download(artifact) {
  const url = await blobUrl(`${path}/artifacts/${encodeURIComponent(artifact.name)}`);
  const link = el("a", { href: url, download: artifact.name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function artifactCard(artifact) {
  const button = el("button", { type: "button", class: "link", text: `Download ${artifact.name}` });
  button.addEventListener("click", () => download(artifact).catch((e) => notice(e.message)));
  const card = el(
    "figure",
    { class: "artifact", "data-artifact": artifact.name },
    el("figcaption", {}, el("code", { text: artifact.name }), ` · ${formatBytes(artifact.size)} · `, button),
  );
  const url = `${path}/artifacts/${encodeURIComponent(artifact.name)}`;
  if (isPng(artifact)) {
    const img = el("img", { alt: artifact.name });
    card.append(img);
    blobUrl(url).then((src) => { img.src = src; }).catch((e) => notice(e.message));
  } else if (isCsv(artifact)) {
    request(url)
      .then((response) => response.text())
      .then((text) => {
        const rows = parseCsv(text, CSV_PREVIEW_ROWS);
        card.append(table(rows, `first ${Math.max(0, rows.length - 1)} rows of ${artifact.name}`));
      })
      .catch((e) => notice(e.message));
  }
  return card;
}

function showArtifacts(job) {
  const box = document.getElementById("artifacts");
  if (!job.artifacts.length) {
    clear(box).append(el("p", { text: FINISHED.has(job.state) ? "None." : "None yet." }));
    return;
  }
  // Pictures first, then tables, then the rest (sizes and download links).
  const order = (a) => (isPng(a) ? 0 : isCsv(a) ? 1 : 2);
  const sorted = [...job.artifacts].sort((a, b) => order(a) - order(b));
  clear(box).append(...sorted.map(artifactCard));
  artifactsShown = true;
}

function paramValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function show(job) {
  section.hidden = false;
  document.getElementById("job-kind").textContent = job.kind;
  clear(document.getElementById("job-state")).append(stateBadge(job.state));
  document.getElementById("job-id").textContent = job.id;
  const progress = document.getElementById("job-progress");
  progress.value = job.state === "succeeded" ? 1 : Number(job.progress.fraction) || 0;
  document.getElementById("job-message").textContent = job.progress.message || "";
  cancel.hidden = FINISHED.has(job.state);
  const again = new URLSearchParams({ kind: job.kind, from: job.id });
  document.getElementById("run-again").href = `/dashboard/submit?${again}`;
  definitionList(
    document.getElementById("params"),
    Object.entries(job.params).map(([name, value]) => [name, paramValue(value)]),
  );
  definitionList(document.getElementById("timings"), [
    ["created", formatTime(job.created_at)],
    ["started", formatTime(job.started_at)],
    ["finished", formatTime(job.finished_at)],
    ["duration", formatDuration(job)],
    ["attempts", job.attempts],
  ]);
  const errorBox = document.getElementById("job-error");
  errorBox.hidden = !job.error;
  if (job.error) {
    document.getElementById("error-type").textContent = job.error.type;
    document.getElementById("error-message").textContent = job.error.message;
  }
  const resultSection = document.getElementById("result-section");
  resultSection.hidden = !job.result;
  if (job.result) document.getElementById("result").textContent = JSON.stringify(job.result, null, 2);
  if (FINISHED.has(job.state) && !artifactsShown) showArtifacts(job);
}

async function poll() {
  let job;
  try {
    job = await getJson(path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      section.hidden = true;
      notice("Job not found.");
      return;
    }
    notice(`Could not read the job: ${error.message}`);
    setTimeout(poll, POLL_MS * 3);
    return;
  }
  show(job);
  if (!FINISHED.has(job.state)) setTimeout(poll, POLL_MS);
}

function main() {
  if (!requireToken()) return;
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      show(await getJson(`${path}/cancel`, { method: "POST" }));
      notice("");
    } catch (error) {
      notice(`Could not cancel: ${error.message}`);
    } finally {
      cancel.disabled = false;
    }
  });
  poll();
}

main();
