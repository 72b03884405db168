// What the page keeps in localStorage: who is logged in (so a fresh page knows whether to
// ask for its session) and the playlists this user opened here (the API has no list of a
// user's playlists yet). Never a credential: the session cookie is HttpOnly.

const USER = "waveform.user";

export function savedUser() {
  try {
    return JSON.parse(localStorage.getItem(USER));
  } catch (_) {
    return null;
  }
}

export function saveUser(user) {
  if (user) localStorage.setItem(USER, JSON.stringify(user));
  else localStorage.removeItem(USER);
}

function playlistsKey(userId) {
  return `waveform.playlists.${userId}`;
}

export function rememberedPlaylists(userId) {
  try {
    return JSON.parse(localStorage.getItem(playlistsKey(userId))) || [];
  } catch (_) {
    return [];
  }
}

export function rememberPlaylist(userId, playlist) {
  const others = rememberedPlaylists(userId).filter((p) => p.id !== playlist.id);
  const list = [{ id: playlist.id, title: playlist.title }, ...others].slice(0, 20);
  localStorage.setItem(playlistsKey(userId), JSON.stringify(list));
}
