// The pages: each renders into <main> from the API's answers. Every control is a real
// <button> or <a>, every field has a <label>; nothing here writes markup from data.

import { api, ApiError } from "./api.js";
import { fill, h, setPressed, toggle } from "./dom.js";
import { rememberPlaylist, rememberedPlaylists } from "./store.js";

function userLink(user, fallbackId) {
  if (!user) return h("span", {}, fallbackId || "someone");
  return h("a", { href: `#/users/${encodeURIComponent(user.id)}` }, user.display_name || user.username);
}

function trackLink(track) {
  return h("a", { class: "title", href: `#/tracks/${encodeURIComponent(track.id)}` }, track.title);
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function heading(text) {
  return h("h1", { tabindex: "-1" }, text);
}

function problemText(error) {
  return error instanceof ApiError ? error.message : String(error);
}

/**
 * Run ``work`` once at a time for ``button``: a second press meanwhile is ignored. The button
 * stays enabled (aria-busy says it is working), so keyboard focus stays on it.
 */
async function busy(button, work) {
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  try {
    await work();
  } finally {
    button.removeAttribute("aria-busy");
  }
}

/** A form's submit handler: runs ``action`` (what the form does), and says in
 * ``message`` why it failed (the service's problem). */
function onSubmit(message, action) {
  return async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      await action();
    } catch (failure) {
      message.textContent = problemText(failure);
    }
  };
}

/** Like and repost buttons for a track; ``state`` is {liked, reposted} when known. */
function trackActions(track, state, onLikes) {
  const status = h("span", { class: "error", role: "alert" });
  const like = toggle("Like", state.liked, () =>
    command(like, `/api/tracks/${encodeURIComponent(track.id)}/like`, (data) => {
      setPressed(like, data.liked);
      if (onLikes && Number.isFinite(data.likes)) onLikes(data.likes);
    }),
  );
  const repost = toggle("Repost", state.reposted, () =>
    command(repost, `/api/tracks/${encodeURIComponent(track.id)}/repost`, (data) =>
      setPressed(repost, data.reposted),
    ),
  );
  if (state.named) {
    like.setAttribute("aria-label", `Like ${track.title}`);
    repost.setAttribute("aria-label", `Repost ${track.title}`);
  }

  function command(button, path, done) {
    const on = button.getAttribute("aria-pressed") === "true";
    status.textContent = "";
    return busy(button, async () => {
      try {
        done((await api(on ? "DELETE" : "POST", path)).data);
      } catch (error) {
        status.textContent = problemText(error);
      }
    });
  }

  return h("div", { class: "actions" }, like, repost, status);
}

export function loginView(main, onLoggedIn, notice) {
  const error = h("p", { class: "error", role: "alert" }, notice || "");
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "password", name: "password", type: "password", autocomplete: "current-password", required: true,
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h(
    "form",
    { class: "stack", onsubmit: login },
    h("label", { for: "username" }, "Username", username),
    h("label", { for: "password" }, "Password", password),
    submit,
    error,
  );

  function login(event) {
    event.preventDefault();
    error.textContent = "";
    return busy(submit, attempt);
  }

  async function attempt() {
    try {
      const { data } = await api("POST", "/api/session", {
        body: { username: username.value, password: password.value },
      });
      await onLoggedIn(data, username.value);
    } catch (failure) {
      error.textContent = failure.status === 401 ? "Wrong username or password." : problemText(failure);
    }
  }

  fill(main, heading("Log in to waveform"), form);
  username.focus();
}

export async function streamView(main, cleanup) {
  const list = h("ol", { class: "entries", "aria-label": "Stream" });
  const status = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", onclick: () => load() }, "Load more");
  fill(main, heading("Your stream"), list, h("div", { class: "more" }, more, status));
  let cursor = null;
  let loading = false;
  let done = false;

  async function load() {
    if (loading || done) return;
    loading = true;
    more.setAttribute("aria-busy", "true");
    status.textContent = "Loading…";
    try {
      const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
      const { data } = await api("GET", `/api/stream${query}`);
      for (const item of data.items) {
        const track = data.tracks[item.track_id];
        if (track) list.append(entry(item, track, data.users));
      }
      cursor = data.next_cursor;
      done = !cursor;
      status.textContent = done ? "You are all caught up." : "";
      more.hidden = done;
    } catch (error) {
      status.textContent = problemText(error);
    } finally {
      loading = false;
      more.removeAttribute("aria-busy");
    }
  }

  // Infinite scroll: the next page by cursor when the button nears the viewport; the
  // button itself stays for keyboard users.
  const observer = new IntersectionObserver(
    (entries) => {
      if (entries.some((e) => e.isIntersecting) && list.children.length > 0) load();
    },
    { rootMargin: "200px" },
  );
  observer.observe(more);
  cleanup(() => observer.disconnect());
  await load();
}

function entry(item, track, users) {
  const verb = item.type === "repost" ? "reposted" : "posted";
  return h(
    "li",
    { class: "entry", "data-entry": item.id },
    h("div", {}, userLink(users[item.actor_id], item.actor_id), ` ${verb} `, trackLink(track)),
    h("div", { class: "muted" }, "by ", userLink(users[track.owner_id], track.owner_id), ` · ${duration(track.duration_ms)}`),
    trackActions(track, { liked: false, reposted: false, named: true }),
  );
}

export async function trackView(main, id, me) {
  const { data: track } = await api("GET", `/api/tracks/${encodeURIComponent(id)}`);
  // likes: counted by the social service, as a like command answers it (like_count: the
  // catalog's copy, which may lag).
  const likes = h("span", { id: "likes" }, String(track.likes ?? track.like_count ?? 0));
  const owner = track.users[track.owner_id];
  fill(
    main,
    heading(track.title),
    h("p", {}, "by ", userLink(owner, track.owner_id)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Genre"), h("dd", {}, track.genre || "—"),
      h("dt", {}, "Length"), h("dd", {}, duration(track.duration_ms)),
      h("dt", {}, "Likes"), h("dd", {}, likes),
    ),
    track.description ? h("p", {}, track.description) : null,
    trackActions(track, { liked: track.liked, reposted: track.reposted }, (n) => {
      likes.textContent = String(n);
    }),
    addToPlaylist(track, me),
  );
}

function addToPlaylist(track, me) {
  const mine = rememberedPlaylists(me.id);
  if (mine.length === 0) {
    return h("p", { class: "muted" }, "Create a playlist (New playlist) to add tracks to it.");
  }
  const select = h(
    "select",
    { id: "playlist-choice" },
    mine.map((p) => h("option", { value: p.id }, p.title)),
  );
  const status = h("p", { class: "status", role: "status" });
  const add = onSubmit(status, async () => {
    const path = `/api/playlists/${encodeURIComponent(select.value)}`;
    const { data, etag } = await api("GET", path);
    if (data.track_ids.includes(track.id)) {
      status.textContent = `Already in ${data.title}.`;
      return;
    }
    await api("PATCH", path, { body: { track_ids: [...data.track_ids, track.id] }, ifMatch: etag });
    status.textContent = `Added to ${data.title}.`;
  });
  return h(
    "form",
    { class: "inline", onsubmit: add },
    h("label", { for: "playlist-choice" }, "Add to playlist", select),
    h("button", { type: "submit" }, "Add"),
    status,
  );
}

export async function userView(main, id, me) {
  const { data: user } = await api("GET", `/api/users/${encodeURIComponent(id)}`);
  const followers = h("span", {}, String(user.followers_count));
  const status = h("span", { class: "error", role: "alert" });
  let follow = null;
  if (user.id !== me.id) {
    follow = toggle("Follow", user.following, () => {
      const on = follow.getAttribute("aria-pressed") === "true";
      status.textContent = "";
      return busy(follow, async () => {
        try {
          const path = `/api/users/${encodeURIComponent(user.id)}/follow`;
          const { data } = await api(on ? "DELETE" : "POST", path);
          setPressed(follow, data.following);
          if (data.following !== on) {
            followers.textContent = String(Number(followers.textContent) + (data.following ? 1 : -1));
          }
        } catch (error) {
          status.textContent = problemText(error);
        }
      });
    });
  }
  fill(
    main,
    heading(user.display_name || user.username),
    h("p", { class: "muted" }, `@${user.username}`, user.city ? ` · ${user.city}` : ""),
    user.bio ? h("p", {}, user.bio) : null,
    h("p", {}, followers, " followers · ", String(user.followings_count), " following"),
    follow ? h("div", { class: "actions" }, follow, status) : null,
    h("h2", {}, "Tracks"),
    user.tracks.length
      ? h("ul", { class: "tracks" }, user.tracks.map((t) => h("li", {}, trackLink(t))))
      : h("p", { class: "muted" }, "No tracks yet."),
    user.id === me.id ? myPlaylists(me) : null,
  );
}

function myPlaylists(me) {
  const mine = rememberedPlaylists(me.id);
  return [
    h("h2", {}, "Your playlists"),
    mine.length
      ? h("ul", {}, mine.map((p) => h("li", {}, h("a", { href: `#/playlists/${encodeURIComponent(p.id)}` }, p.title))))
      : h("p", { class: "muted" }, "None opened here yet."),
  ];
}

export async function playlistView(main, id, me) {
  const path = `/api/playlists/${encodeURIComponent(id)}`;
  let { data: playlist, etag } = await api("GET", path);
  const status = h("p", { class: "status", role: "status" });
  const own = playlist.owner_id === me.id;
  if (own) rememberPlaylist(me.id, playlist);

  // Every edit sends the whole new list with If-Match: a lost update is a 412, never a
  // silent overwrite of another tab's change.
  // After a re-render, focus goes back to the control named ``focus`` (its new place).
  async function save(change, done, focus) {
    try {
      const answer = await api("PATCH", path, { body: change, ifMatch: etag });
      playlist = answer.data;
      etag = answer.etag;
      rememberPlaylist(me.id, playlist);
      render();
      status.textContent = done;
      const again = focus && main.querySelector(`button[aria-label="${CSS.escape(focus)}"]:not(:disabled)`);
      if (again) again.focus();
    } catch (error) {
      if (error.status === 412) {
        ({ data: playlist, etag } = await api("GET", path));
        render();
        status.textContent = "The playlist changed elsewhere: here it is as it is now. Try again.";
      } else {
        status.textContent = problemText(error);
      }
    }
  }

  function move(index, by) {
    const ids = [...playlist.track_ids];
    const [moved] = ids.splice(index, 1);
    ids.splice(index + by, 0, moved);
    const title = playlist.tracks[moved].title;
    return save({ track_ids: ids }, `Moved ${title}.`, `Move ${title} ${by < 0 ? "up" : "down"}`);
  }

  function remove(index) {
    const ids = playlist.track_ids.filter((_, i) => i !== index);
    return save({ track_ids: ids }, `Removed ${playlist.tracks[playlist.track_ids[index]].title}.`);
  }

  function row(trackId, index, count) {
    const track = playlist.tracks[trackId];
    const controls = own
      ? h(
          "span",
          { class: "actions" },
          h("button", { type: "button", disabled: index === 0, "aria-label": `Move ${track.title} up`, onclick: () => move(index, -1) }, "Up"),
          h("button", { type: "button", disabled: index === count - 1, "aria-label": `Move ${track.title} down`, onclick: () => move(index, 1) }, "Down"),
          h("button", { type: "button", "aria-label": `Remove ${track.title}`, onclick: () => remove(index) }, "Remove"),
        )
      : null;
    return h("li", {}, trackLink(track), controls);
  }

  function editForms() {
    const title = h("input", { id: "playlist-title", value: playlist.title, required: true, maxlength: "200" });
    const trackId = h("input", { id: "add-track", placeholder: "t1", required: true });
    return [
      h(
        "form",
        { class: "inline", onsubmit: (e) => { e.preventDefault(); save({ title: title.value }, "Renamed."); } },
        h("label", { for: "playlist-title" }, "Title", title),
        h("button", { type: "submit" }, "Rename"),
      ),
      h(
        "form",
        {
          class: "inline",
          onsubmit: (e) => {
            e.preventDefault();
            save({ track_ids: [...playlist.track_ids, trackId.value.trim()] }, "Added.");
          },
        },
        h("label", { for: "add-track" }, "Add a track by id", trackId),
        h("button", { type: "submit" }, "Add track"),
      ),
    ];
  }

  function render() {
    const count = playlist.track_ids.length;
    fill(
      main,
      heading(playlist.title),
      h("p", {}, "by ", userLink(playlist.users[playlist.owner_id], playlist.owner_id)),
      count
        ? h("ol", { class: "tracks", "aria-label": "Tracks" }, playlist.track_ids.map((t, i) => row(t, i, count)))
        : h("p", { class: "muted" }, "No tracks yet."),
      own ? editForms() : null,
      status,
    );
  }

  render();
}

export function newPlaylistView(main, me, go) {
  const title = h("input", { id: "new-playlist-title", required: true, maxlength: "200" });
  const error = h("p", { class: "error", role: "alert" });
  const create = onSubmit(error, async () => {
    const { data } = await api("POST", "/api/playlists", { body: { title: title.value, track_ids: [] } });
    rememberPlaylist(me.id, data);
    go(`#/playlists/${encodeURIComponent(data.id)}`);
  });
  fill(
    main,
    heading("New playlist"),
    h("form", { class: "stack", onsubmit: create },
      h("label", { for: "new-playlist-title" }, "Title", title),
      h("button", { type: "submit", class: "primary" }, "Create playlist"),
      error),
  );
}

export function newTrackView(main, go) {
  const title = h("input", { id: "new-track-title", required: true, maxlength: "200" });
  const genre = h("input", { id: "new-track-genre", required: true, maxlength: "64", value: "electronic" });
  const error = h("p", { class: "error", role: "alert" });
  const post = onSubmit(error, async () => {
    const { data } = await api("POST", "/api/tracks", { body: { title: title.value, genre: genre.value } });
    go(`#/tracks/${encodeURIComponent(data.id)}`);
  });
  fill(
    main,
    heading("Post a track"),
    h("form", { class: "stack", onsubmit: post },
      h("label", { for: "new-track-title" }, "Title", title),
      h("label", { for: "new-track-genre" }, "Genre", genre),
      h("button", { type: "submit", class: "primary" }, "Post track"),
      error),
  );
}

export function failedView(main, error) {
  fill(main, heading(error.status === 404 ? "Not found" : "Something went wrong"), h("p", {}, problemText(error)));
}
