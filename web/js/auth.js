// App Service authentication (Easy Auth), when the app runs behind it: GET /.auth/me names the
// signed-in user. Where it is off (the local stack, a default deploy) the route does not answer
// a user list and the page works with the function key alone.
//
// The answer is input like any other: only an array of principals with a string name counts,
// and the name is shown as text. The page never sends a principal header itself: the platform
// sets it from the session, and the API trusts it only behind App Service authentication.

const ME = "/.auth/me";
const MAX_NAME = 256;
let signedIn = null; // the user's name once known

export function currentUser() { return signedIn; }

function nameOf(principal) {
  if (!principal || typeof principal !== "object") return null;
  const claims = Array.isArray(principal.user_claims) ? principal.user_claims : [];
  const claim = (typ) => claims.find((c) => c && c.typ === typ && typeof c.val === "string" && c.val.trim());
  const found = claim("name") || claim("preferred_username")
    || (typeof principal.user_id === "string" && principal.user_id.trim() ? { val: principal.user_id } : null);
  return found ? found.val.trim().slice(0, MAX_NAME) : null;
}

// "signed-in" (with the name), "signed-out" (Easy Auth is on, no session) or "off".
export async function detect() {
  let response;
  try {
    response = await fetch(new URL(ME, document.baseURI), {
      credentials: "same-origin", cache: "no-store", headers: { accept: "application/json" },
    });
  } catch { return { state: "off" }; }
  if (response.status === 401) return { state: "signed-out" };
  if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) return { state: "off" };
  let body;
  try { body = await response.json(); } catch { return { state: "off" }; }
  if (!Array.isArray(body)) return { state: "off" };
  if (body.length === 0) return { state: "signed-out" };
  const name = nameOf(body[0]);
  if (!name) return { state: "off" };
  signedIn = name;
  return { state: "signed-in", name };
}

// Back to this very page after signing in (a path of this site only: no open redirect).
export function loginUrl() {
  return `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(location.pathname + location.hash)}`;
}

export function logoutUrl() {
  return `/.auth/logout?post_logout_redirect_uri=${encodeURIComponent(location.pathname)}`;
}
