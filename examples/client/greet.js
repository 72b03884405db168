// Served as /assets/greet.<digest>.js; app.js's import is rewritten to that name.
export async function greet(name) {
  const response = await fetch(`/api/hello/${encodeURIComponent(name)}`);
  return (await response.json()).greeting;
}
