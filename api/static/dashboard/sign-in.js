import { ApiError, forgetToken, request, saveToken } from "./api.js";
import { notice } from "./dom.js";

// Only a dashboard path may follow sign-in (never another site).
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return next.startsWith("/dashboard/") && !next.startsWith("//") ? next : "/dashboard/";
}

forgetToken();
const form = document.getElementById("sign-in-form");
const field = document.getElementById("token");
field.focus();
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = field.value.trim();
  if (!value) {
    notice("Enter a token.");
    return;
  }
  try {
    await request("/v1/jobs?limit=1", { bearer: value });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      notice("That token was refused: check it and try again.");
    } else {
      notice(`Could not sign in: ${error.message}`);
    }
    field.select();
    return;
  }
  saveToken(value);
  location.assign(nextPage());
});
