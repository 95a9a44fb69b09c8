// The job kinds, with their params schemas (from /dashboard/kinds.json, no token needed).
let cached = null;

export async function jobKinds() {
  if (!cached) {
    const response = await fetch("/dashboard/kinds.json");
    cached = (await response.json()).kinds;
  }
  return cached;
}
