import { ApiError, getJson, postJson, requireToken, uploadDataset } from "./api.js";
import { clear, el, formatBytes, notice } from "./dom.js";
import { jobKinds } from "./kinds.js";

// The form of a kind is generated from its params schema: enums as selects, numbers with their
// bounds, defaults filled in, descriptions as help text; dataset and model params pick one of
// the caller's own. The API's validation errors ("params.NAME: ...") appear beside NAME.

const form = document.getElementById("submit-form");
const kindSelect = document.getElementById("kind");
const fieldset = document.getElementById("params-fields");
const submitButton = document.getElementById("submit-button");
let kinds = [];
let fields = [];
let datasets = [];
let models = [];

function bounds(spec) {
  const parts = [];
  if (spec.minimum !== undefined) parts.push(`at least ${spec.minimum}`);
  if (spec.exclusiveMinimum !== undefined) parts.push(`more than ${spec.exclusiveMinimum}`);
  if (spec.maximum !== undefined) parts.push(`at most ${spec.maximum}`);
  if (spec.exclusiveMaximum !== undefined) parts.push(`less than ${spec.exclusiveMaximum}`);
  return parts.length ? `${spec.type === "integer" ? "a whole number, " : ""}${parts.join(", ")}` : "";
}

function option(value, text) {
  return el("option", { value, text });
}

function datasetControl(id, required) {
  const select = el("select", { id });
  select.append(option("", required ? "— choose a dataset —" : "— none —"));
  for (const d of datasets) {
    select.append(option(d.id, `${d.name} (${formatBytes(d.size)})`));
  }
  const file = el("input", { type: "file", id: `${id}-upload` });
  const progress = el("progress", { max: "1", value: "0", hidden: true, "aria-label": "Upload progress" });
  const extra = el(
    "div",
    { class: "upload" },
    el("label", { for: `${id}-upload`, text: "or upload a new file" }),
    file,
    progress,
  );
  return { control: select, extra, file, progress };
}

function modelControl(id, accepted) {
  const select = el("select", { id });
  select.append(option("", "— choose a model —"));
  for (const m of models.filter((model) => accepted.includes(model.kind))) {
    select.append(option(m.id, `${m.kind} v${m.version} (${m.id.slice(0, 8)})`));
  }
  return { control: select };
}

function valueControl(id, spec) {
  if (Array.isArray(spec.enum)) {
    const select = el("select", { id });
    if (spec.default === undefined) select.append(option("", "— default —"));
    for (const value of spec.enum) select.append(option(String(value), String(value)));
    if (spec.default !== undefined) select.value = String(spec.default);
    return { control: select, read: () => select.value || undefined };
  }
  if (spec.type === "boolean") {
    const box = el("input", { id, type: "checkbox" });
    box.checked = Boolean(spec.default);
    return { control: box, read: () => box.checked, write: (v) => { box.checked = Boolean(v); } };
  }
  if (spec.type === "integer" || spec.type === "number") {
    const input = el("input", {
      id,
      type: "number",
      step: spec.type === "integer" ? "1" : "any",
      min: spec.minimum ?? spec.exclusiveMinimum,
      max: spec.maximum ?? spec.exclusiveMaximum,
    });
    if (spec.default !== undefined && spec.default !== null) input.value = String(spec.default);
    const read = () => {
      if (input.value === "") return input.validity.badInput ? "not a number" : undefined;
      return Number(input.value);
    };
    return { control: input, read };
  }
  if (spec.type === "string") {
    const input = el("input", { id, type: "text" });
    if (spec.default !== undefined) input.value = spec.default;
    return { control: input, read: () => input.value || undefined };
  }
  // Anything else (objects, alternatives) is typed as JSON.
  const area = el("textarea", { id, rows: "2", spellcheck: "false" });
  if (spec.default !== undefined && spec.default !== null) area.value = JSON.stringify(spec.default);
  const read = () => {
    if (!area.value.trim()) return undefined;
    try {
      return JSON.parse(area.value);
    } catch {
      throw new FieldError("not valid JSON");
    }
  };
  return { control: area, read, write: (v) => { area.value = v === null ? "" : JSON.stringify(v); } };
}

class FieldError extends Error {}

function buildField(kind, name, spec) {
  const id = `param-${name}`;
  const required = (kind.params_schema.required || []).includes(name);
  let made;
  if (kind.dataset_params.includes(name)) made = datasetControl(id, required);
  else if (kind.model_params[name]) made = modelControl(id, kind.model_params[name]);
  else made = valueControl(id, spec);
  const read = made.read || (() => made.control.value || undefined);
  const write = made.write || ((v) => { made.control.value = typeof v === "string" ? v : JSON.stringify(v); });
  const helpText = [spec.description, bounds(spec), required ? "required" : "optional"]
    .filter(Boolean).join(" · ");
  const help = el("p", { class: "help", id: `${id}-help`, text: helpText });
  const error = el("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
  made.control.setAttribute("aria-describedby", `${id}-help ${id}-error`);
  made.control.setAttribute("name", name);
  const box = el(
    "div",
    { class: "field", "data-param": name },
    el("label", { for: id, text: name }),
    made.control,
    made.extra,
    help,
    error,
  );
  return { name, box, control: made.control, file: made.file, progress: made.progress, read, write, error };
}

function currentKind() {
  return kinds.find((k) => k.name === kindSelect.value);
}

function render(prefill = {}) {
  const kind = currentKind();
  document.getElementById("kind-help").textContent = kind.summary;
  fields = Object.entries(kind.params_schema.properties || {}).map(
    ([name, spec]) => buildField(kind, name, spec),
  );
  for (const field of fields) {
    if (prefill[field.name] !== undefined && prefill[field.name] !== null) field.write(prefill[field.name]);
    else if (prefill[field.name] === null && field.control.tagName === "TEXTAREA") field.write(null);
  }
  clear(fieldset).append(el("legend", { text: `Params of ${kind.name}` }), ...fields.map((f) => f.box));
}

function clearErrors() {
  notice("");
  for (const field of fields) {
    field.error.hidden = true;
    field.error.textContent = "";
    field.control.removeAttribute("aria-invalid");
  }
}

function showFieldError(field, message) {
  field.error.textContent = message;
  field.error.hidden = false;
  field.control.setAttribute("aria-invalid", "true");
}

// Upload the files chosen for dataset params first; each then names its new dataset.
async function uploadChosenFiles() {
  for (const field of fields) {
    const file = field.file && field.file.files[0];
    if (!file) continue;
    field.progress.hidden = false;
    const dataset = await uploadDataset(file, (fraction) => { field.progress.value = fraction; })
      .catch((error) => {
        showFieldError(field, `upload refused: ${error.message}`);
        throw error;
      });
    field.control.append(option(dataset.id, `${dataset.name} (${formatBytes(dataset.size)})`));
    field.control.value = dataset.id;
    field.file.value = "";
  }
}

function collect() {
  const params = {};
  let ok = true;
  for (const field of fields) {
    try {
      const value = field.read();
      if (value !== undefined) params[field.name] = value;
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      showFieldError(field, error.message);
      ok = false;
    }
  }
  return ok ? params : null;
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  submitButton.disabled = true;
  try {
    await uploadChosenFiles();
    const params = collect();
    if (!params) return;
    const job = await postJson("/v1/jobs", { kind: kindSelect.value, params });
    location.assign(`/dashboard/jobs/${encodeURIComponent(job.id)}`);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const place = /^params\.([A-Za-z0-9_]+)/.exec(error.message);
    const field = place && fields.find((f) => f.name === place[1]);
    if (field) {
      showFieldError(field, error.message.slice(place[0].length).replace(/^:\s*/, ""));
      field.control.focus();
    } else {
      notice(`The job was refused: ${error.message}`);
    }
  } finally {
    submitButton.disabled = false;
  }
}

async function main() {
  if (!requireToken()) return;
  [kinds, datasets, models] = await Promise.all([
    jobKinds(),
    getJson("/v1/datasets").then((a) => a.datasets),
    getJson("/v1/models").then((a) => a.models),
  ]);
  for (const kind of kinds) kindSelect.append(option(kind.name, kind.name));
  const query = new URLSearchParams(location.search);
  let prefill = {};
  if (query.get("from")) {
    try {
      const earlier = await getJson(`/v1/jobs/${encodeURIComponent(query.get("from"))}`);
      prefill = earlier.params;
      query.set("kind", earlier.kind);
    } catch (error) {
      notice(error.status === 404 ? "The earlier job was not found."
        : `Could not read the earlier job: ${error.message}`);
    }
  }
  if (kinds.some((k) => k.name === query.get("kind"))) kindSelect.value = query.get("kind");
  render(prefill);
  kindSelect.addEventListener("change", () => {
    history.replaceState(null, "", `?kind=${encodeURIComponent(kindSelect.value)}`);
    render();
  });
  form.addEventListener("submit", submit);
}

main();
