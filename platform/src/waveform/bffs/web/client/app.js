// The waveform web client: a single-page app on the web BFF's own origin. Hash routes
// (#/tracks/t1) keep every page on the one document the BFF serves at "/".

import { api, setCsrf, whenUnauthorized } from "./api.js";
import { fill, h } from "./dom.js";
import { Live } from "./live.js";
import { savedUser, saveUser } from "./store.js";
import {
  failedView,
  loginView,
  newPlaylistView,
  newTrackView,
  playlistView,
  streamView,
  trackView,
  userView,
} from "./views.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const banner = document.getElementById("live-banner");
const profile = document.getElementById("nav-profile");
const MAX_NOTICES = 5;

let me = null;
let cleanups = [];
const live = new Live({
  onEvent: notify,
  onGap: () => notice("Some activity was missed while you were away.", true),
  onEnded: () => ended("Your session ended. Log in again."),
  onState: (state) => {
    document.body.dataset.live = state;
  },
  onRefused: stillLoggedIn,
});

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route(focus = true) {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
  if (!me) return;
  const hash = location.hash.startsWith("#/") ? location.hash : "#/";
  const [, kind, id] = hash.slice(1).split("/");
  try {
    if (!kind) await streamView(main, (f) => cleanups.push(f));
    else if (kind === "tracks" && id) await trackView(main, decodeURIComponent(id), me);
    else if (kind === "users" && id) await userView(main, decodeURIComponent(id), me);
    else if (kind === "playlists" && id) await playlistView(main, decodeURIComponent(id), me);
    else if (kind === "new" && id === "playlist") newPlaylistView(main, me, go);
    else if (kind === "new" && id === "track") newTrackView(main, go);
    else failedView(main, { status: 404, message: "There is no such page." });
  } catch (error) {
    if (me) failedView(main, error);
  }
  // Keyboard and screen-reader users land on the new page's heading, not on the old link.
  const title = main.querySelector("h1");
  if (focus && title) title.focus();
}

function notify(event) {
  const actor = event.actor ? event.actor.username : "someone";
  const title = event.track ? event.track.title : "a track";
  const verb = { post: "posted", repost: "reposted", like: "liked your track" }[event.type];
  if (!verb) return;
  const link = event.track
    ? h("a", { href: `#/tracks/${encodeURIComponent(event.track.id)}` }, title)
    : title;
  notice([`${actor} ${verb} `, link], event.type !== "like");
}

function notice(content, refreshable) {
  let list = banner.querySelector("ul");
  if (!list) {
    const show = h("button", { type: "button", onclick: showNew }, "Show new activity");
    const dismiss = h("button", { type: "button", onclick: () => fill(banner) }, "Dismiss");
    list = h("ul", { "aria-label": "New activity" });
    fill(banner, h("strong", {}, "New activity"), list, show, dismiss);
  }
  list.prepend(h("li", {}, content));
  while (list.children.length > MAX_NOTICES) list.lastChild.remove();
  banner.dataset.refresh = refreshable ? "yes" : "no";
}

function showNew() {
  fill(banner);
  go("#/");
}

async function loggedIn(session, username) {
  setCsrf(session.csrf_token);
  me = { id: session.user_id, username };
  saveUser(me);
  who.textContent = `@${username}`;
  profile.href = `#/users/${encodeURIComponent(me.id)}`;
  nav.hidden = false;
  live.start();
  await route(false);
}

function ended(message) {
  live.stop();
  me = null;
  setCsrf(null);
  saveUser(null);
  nav.hidden = true;
  fill(banner);
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
  loginView(main, loggedIn, message);
}

async function stillLoggedIn() {
  try {
    await api("GET", "/api/session");
    return true;
  } catch (error) {
    if (error.status === 401) ended("Your session ended. Log in again.");
    return false;
  }
}

async function logout() {
  live.stop();
  try {
    await api("DELETE", "/api/session");
  } finally {
    ended("");
  }
}

async function boot() {
  document.getElementById("logout").addEventListener("click", logout);
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#/") || !location.hash) route();
  });
  // The skip link moves focus to the content without touching the route in the URL.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  whenUnauthorized(() => ended("Your session ended. Log in again."));
  const saved = savedUser();
  if (!saved) {
    loginView(main, loggedIn);
    return;
  }
  try {
    const { data } = await api("GET", "/api/session");
    await loggedIn(data, saved.username);
  } catch (_) {
    ended("");
  }
}

boot();
