import { getJson, requireToken } from "./api.js";
import {
  clear, el, formatDuration, formatTime, notice, progressCell, shortId, stateBadge,
} from "./dom.js";
import { jobKinds } from "./kinds.js";

const POLL_MS = 1000;
// Jobs per page: ?limit= (1-100), 20 by default.
const asked = Number(new URLSearchParams(location.search).get("limit"));
const PAGE_SIZE = Number.isInteger(asked) && asked >= 1 && asked <= 100 ? asked : 20;

const stateSelect = document.getElementById("filter-state");
const kindSelect = document.getElementById("filter-kind");
const body = document.querySelector("#jobs tbody");
const empty = document.getElementById("empty");
const newer = document.getElementById("newer");
const older = document.getElementById("older");
// cursors[i] is where page i starts (null: the newest job).
let cursors = [null];
let page = 0;
let nextCursor = null;

function row(job) {
  return el(
    "tr",
    { "data-job-id": job.id },
    el("td", {}, el("a", { href: `/dashboard/jobs/${encodeURIComponent(job.id)}`, title: job.id }, el("code", { text: shortId(job.id) }))),
    el("td", { text: job.kind }),
    el("td", {}, stateBadge(job.state)),
    el("td", {}, progressCell(job)),
    el("td", { text: formatTime(job.created_at) }),
    el("td", { text: formatDuration(job) }),
  );
}

let inFlight = false;

async function refresh() {
  if (inFlight) return;
  inFlight = true;
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (stateSelect.value) query.set("state", stateSelect.value);
  if (kindSelect.value) query.set("kind", kindSelect.value);
  if (cursors[page]) query.set("cursor", cursors[page]);
  try {
    const answer = await getJson(`/v1/jobs?${query}`);
    clear(body).append(...answer.jobs.map(row));
    empty.hidden = answer.jobs.length > 0;
    nextCursor = answer.next_cursor;
    newer.disabled = page === 0;
    older.disabled = !nextCursor;
    notice("");
  } catch (error) {
    notice(`Could not list jobs: ${error.message}`);
  } finally {
    inFlight = false;
  }
}

function restart() {
  cursors = [null];
  page = 0;
  const query = new URLSearchParams();
  if (stateSelect.value) query.set("state", stateSelect.value);
  if (kindSelect.value) query.set("kind", kindSelect.value);
  if (PAGE_SIZE !== 20) query.set("limit", String(PAGE_SIZE));
  history.replaceState(null, "", query.size ? `?${query}` : location.pathname);
  refresh();
}

async function main() {
  if (!requireToken()) return;
  for (const state of document.body.dataset.states.split(",")) {
    stateSelect.append(el("option", { value: state, text: state }));
  }
  for (const kind of await jobKinds()) {
    kindSelect.append(el("option", { value: kind.name, text: kind.name }));
  }
  const query = new URLSearchParams(location.search);
  stateSelect.value = query.get("state") || "";
  kindSelect.value = query.get("kind") || "";
  stateSelect.addEventListener("change", restart);
  kindSelect.addEventListener("change", restart);
  newer.addEventListener("click", () => {
    page = Math.max(0, page - 1);
    refresh();
  });
  older.addEventListener("click", () => {
    if (!nextCursor) return;
    cursors[page + 1] = nextCursor;
    page += 1;
    refresh();
  });
  await refresh();
  setInterval(refresh, POLL_MS);
}

main();
