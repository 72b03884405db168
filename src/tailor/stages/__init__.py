"""One module per pipeline stage. The order they run in lives in :mod:`tailor.pipeline`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tailor.routing import Handler

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class Stage(Protocol):
    """A stage wraps the rest of the chain. It may answer locally (a denial is a response, not
    an exception) or call ``next`` and adjust what comes back (encoders run in reverse)."""

    def wrap(self, next_handler: Handler) -> Handler: ...


class StageFactory(Protocol):
    """Builds a stage from config, or returns ``None`` when config switches it off (then it is
    not in the chain at all)."""

    def __call__(self, ctx: BuildContext) -> Stage | None: ...
