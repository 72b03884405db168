"""The public API's transcoded resource: the catalog's gRPC methods as /v1/catalog routes,
built at startup from the descriptors (tailor.transcode), publishing only these fields of the
catalog's Track (the rest is internal)."""

from __future__ import annotations

from tailor import BFF
from tailor.govern.labels import DataClass
from tailor.transcode import TranscodedRoute, transcode, transcoded_routes
from waveform.protos import SERVICES, descriptor_set

#: What the transcoded catalog routes publish of the catalog's Track (the rest is internal):
#: public data, as the public API's own track shape is.
TRACK_FIELDS = (
    "id", "title", "owner_id", "duration_ms", "genre", "tags", "description", "artwork_url",
    "created_at", "play_count", "like_count", "repost_count", "media.stream_url",
)  # fmt: skip
PREFIX = "/v1"
FIELDS = {
    "GetTrack": TRACK_FIELDS,
    "BatchGetTracks": tuple(f"items.{name}" for name in TRACK_FIELDS),
}


def add_catalog_routes(bff: BFF) -> list[TranscodedRoute]:
    """Add the transcoded routes to the public BFF's route table."""
    sets = bff.config.grpc.descriptor_sets
    return transcode(
        bff,
        "catalog",
        SERVICES["catalog"],
        sets,
        prefix=PREFIX,
        fields=FIELDS,
        data_class=DataClass.PUBLIC,
    )


def catalog_routes() -> list[TranscodedRoute]:
    """The same routes without a BFF (for the OpenAPI document)."""
    sets = [str(descriptor_set())]
    return transcoded_routes(
        "catalog",
        SERVICES["catalog"],
        sets,
        prefix=PREFIX,
        fields=FIELDS,
        data_class=DataClass.PUBLIC,
    )
