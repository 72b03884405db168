"""What the seeded world holds, for tests that need a track of their own kind."""

from __future__ import annotations

from waveform.seed import World


def open_tracks(scale: int) -> list[str]:
    """The tracks anyone may see in the world of ``scale``: public, with rights that do not
    restrict them to some countries."""
    world = World(scale=scale)
    unrestricted = {r["track_id"] for r in world.rights if not r["geo_restricted"]}
    return [t["id"] for t in world.tracks if not t["private"] and t["id"] in unrestricted]
