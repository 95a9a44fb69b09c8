// Building pages from data: every string goes in as text (textContent), never as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function notice(message) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.hidden = !message;
}

export function definitionList(list, entries) {
  clear(list);
  for (const [term, value] of entries) {
    list.append(el("dt", { text: term }), el("dd", {}, value instanceof Node ? value : String(value)));
  }
}

export function shortId(id) {
  return id.slice(0, 8);
}

export function formatBytes(size) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function formatDuration(job) {
  if (!job.started_at) return "—";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  const seconds = Math.max(0, (end - new Date(job.started_at)) / 1000);
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function stateBadge(state) {
  return el("span", { class: `state state-${state}`, text: state });
}

export function progressCell(job) {
  const fraction = job.state === "succeeded" ? 1 : Number(job.progress.fraction) || 0;
  const label = job.progress.message || job.state;
  return el(
    "div",
    { class: "progress-line" },
    el("progress", { max: "1", value: String(fraction), "aria-label": `progress: ${label}` }),
    el("span", { class: "progress-message", text: job.progress.message || "" }),
  );
}

// RFC 4180 CSV (quoted fields, doubled quotes), enough for a preview.
export function parseCsv(text, maxRows) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && rows.length < maxRows; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if ((field || row.length) && rows.length < maxRows) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export function table(rows, caption) {
  const [head, ...body] = rows;
  return el(
    "div",
    { class: "scroll" },
    el(
      "table",
      { class: "preview" },
      el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, ...(head || []).map((cell) => el("th", { scope: "col", text: cell })))),
      el("tbody", {}, ...body.map((r) => el("tr", {}, ...r.map((cell) => el("td", { text: cell }))))),
    ),
  );
}
