import { ApiError, blobUrl, getJson, postJson, requireToken } from "./api.js";
import { clear, definitionList, el, formatTime, notice, table } from "./dom.js";

const modelId = document.body.dataset.modelId;
const path = `/v1/models/${encodeURIComponent(modelId)}`;
const tryIt = document.getElementById("try-it");

function jobLink(jobId) {
  return el("a", { href: `/dashboard/jobs/${encodeURIComponent(jobId)}` }, el("code", { text: jobId }));
}

function number(value) {
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(4) : String(value);
}

function probabilityTable(probabilities) {
  const rows = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
  return table([["class", "probability"], ...rows.map(([c, p]) => [c, p.toFixed(4)])], "class probabilities");
}

function resultBox() {
  const box = el("div", { class: "try-result", "aria-live": "polite" });
  return box;
}

function form(label, control, onSubmit) {
  const out = resultBox();
  const button = el("button", { type: "submit", text: "Run" });
  const f = el("form", { class: "card try-form" }, el("label", { for: control.id, text: label }), control, button);
  f.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear(out).append(el("p", { text: "Working…" }));
    try {
      await onSubmit(out);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      clear(out).append(el("p", { class: "field-error", text: error.message }));
    } finally {
      button.disabled = false;
    }
  });
  tryIt.append(f, out);
}

function fileAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => resolve(String(reader.result).split(",", 2)[1] || ""));
    reader.addEventListener("error", () => reject(reader.error));
    reader.readAsDataURL(file);
  });
}

function imageClassifier() {
  const input = el("input", { id: "try-image", type: "file", accept: "image/png,image/jpeg,application/dicom,.dcm" });
  form("An image (PNG, JPEG or DICOM)", input, async (out) => {
    if (!input.files[0]) throw new ApiError(0, { detail: "choose an image first" });
    const image = await fileAsBase64(input.files[0]);
    const answer = await postJson(`${path}/predict`, { images: [image], explain: true });
    const prediction = answer.predictions[0];
    const overlay = el("img", {
      class: "saliency",
      alt: `Grad-CAM overlay for ${prediction.label}`,
      src: `data:image/png;base64,${prediction.saliency_png}`,
    });
    clear(out).append(
      el("p", {}, "Label: ", el("strong", { class: "label", text: prediction.label })),
      el("figure", {}, overlay, el("figcaption", { text: "Grad-CAM: where the model looked" })),
      probabilityTable(prediction.probabilities),
    );
  });
}

function sequenceClassifier() {
  const input = el("textarea", { id: "try-text", rows: "3" });
  form("A text", input, async (out) => {
    const answer = await postJson(`${path}/predict`, { texts: [input.value] });
    const prediction = answer.predictions[0];
    clear(out).append(
      el("p", {}, "Label: ", el("strong", { class: "label", text: prediction.label })),
      probabilityTable(prediction.probabilities),
    );
  });
}

function seq2seq() {
  const input = el("textarea", { id: "try-source", rows: "3" });
  form("A source text", input, async (out) => {
    const answer = await postJson(`${path}/predict`, { sources: [input.value] });
    clear(out).append(el("p", {}, "Decoded: ", el("strong", { class: "label", text: answer.predictions[0] })));
  });
}

function word2vec() {
  const input = el("input", { id: "try-word", type: "text" });
  form("A word", input, async (out) => {
    const answer = await postJson(`${path}/similar`, { word: input.value, topn: 10 });
    clear(out).append(table(
      [["neighbour", "similarity"], ...answer.similar.map((n) => [n.word, n.similarity.toFixed(4)])],
      `neighbours of ${answer.word}`,
    ));
  });
}

const TRY_IT = {
  "image-classifier": imageClassifier,
  "sequence-classifier": sequenceClassifier,
  seq2seq,
  word2vec,
};

async function showCurves(jobId) {
  const box = document.getElementById("curves");
  let job;
  try {
    job = await getJson(`/v1/jobs/${encodeURIComponent(jobId)}`);
  } catch {
    return; // the training job has expired; the page says so already
  }
  const pictures = job.artifacts.filter((a) => a.name.endsWith(".png"));
  if (!pictures.length) return;
  clear(box);
  for (const picture of pictures) {
    const img = el("img", { alt: picture.name });
    box.append(el("figure", { class: "artifact" }, el("figcaption", {}, el("code", { text: picture.name })), img));
    blobUrl(`/v1/jobs/${encodeURIComponent(jobId)}/artifacts/${encodeURIComponent(picture.name)}`)
      .then((src) => { img.src = src; })
      .catch(() => img.remove());
  }
}

async function main() {
  if (!requireToken()) return;
  let model;
  try {
    model = await getJson(path);
  } catch (error) {
    notice(error instanceof ApiError && error.status === 404 ? "Model not found." : error.message);
    return;
  }
  document.getElementById("model").hidden = false;
  document.getElementById("model-kind").textContent = model.kind;
  document.getElementById("model-version").textContent = model.version;
  document.getElementById("model-id").textContent = model.id;
  definitionList(document.getElementById("lineage"), [
    ["training job", jobLink(model.training_job_id)],
    ["dataset sha256", el("code", { class: "hash", text: model.dataset_sha256 || "—" })],
    ["created", formatTime(model.created_at)],
    ["framework", model.framework || "—"],
    ["input shape", model.input_shape ? model.input_shape.join(" × ") : "—"],
    ["classes", model.class_names ? model.class_names.join(", ") : "—"],
    ["params", Object.entries(model.params).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n")],
  ]);
  definitionList(
    document.getElementById("metrics"),
    Object.entries(model.metrics).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : number(v)]),
  );
  const build = TRY_IT[model.kind];
  if (build) build();
  else tryIt.append(el("p", { text: `No “try it” for ${model.kind} models.` }));
  showCurves(model.training_job_id);
}

main();
