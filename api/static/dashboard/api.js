// The dashboard's one door to the /v1 API. The token lives in sessionStorage (this tab only):
// it is sent in the Authorization header, never put in a URL, a cookie or a log.
const TOKEN_KEY = "osler.token";
export const SIGN_IN = "/dashboard/sign-in";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

function signInAgain() {
  forgetToken();
  const next = location.pathname + location.search;
  location.assign(`${SIGN_IN}?next=${encodeURIComponent(next)}`);
}

// Pages other than sign-in call this first: no token, no page.
export function requireToken() {
  if (!token()) {
    signInAgain();
    return false;
  }
  const out = document.getElementById("sign-out");
  if (out) {
    out.addEventListener("click", () => {
      forgetToken();
      location.assign(SIGN_IN);
    });
  }
  return true;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

// fetch with the token; a 401 sends the user back to sign in, other errors throw ApiError.
export async function request(path, { method = "GET", json, body, bearer, headers: extra } = {}) {
  const headers = { ...extra, Authorization: `Bearer ${bearer || token()}` };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(path, { method, headers, body, cache: "no-store" });
  if (response.status === 401 && !bearer) {
    signInAgain();
  }
  if (!response.ok) {
    throw new ApiError(response.status, await problemOf(response));
  }
  return response;
}

export async function getJson(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

export function postJson(path, json, headers = {}) {
  return getJson(path, { method: "POST", json, headers });
}

// An artifact as a blob: URL (an <img src> cannot carry the Authorization header).
export async function blobUrl(path) {
  const response = await request(path);
  return URL.createObjectURL(await response.blob());
}

// Upload one file as a dataset, reporting progress (fetch cannot; XMLHttpRequest can).
export function uploadDataset(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/datasets");
    xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let answer = {};
      try {
        answer = JSON.parse(xhr.responseText);
      } catch {
        answer = {};
      }
      if (xhr.status === 201) resolve(answer);
      else if (xhr.status === 401) signInAgain();
      else reject(new ApiError(xhr.status, answer));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { detail: "the upload failed" })));
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });
}
