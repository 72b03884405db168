"""One module per pipeline stage. The order they run in lives in :mod:`tailor.pipeline`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tailor.routing import Chain

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class Stage(Protocol):
    """A stage wraps the rest of the chain. It may answer locally (a denial is a response, not
    an exception) or call ``next`` and adjust what comes back (encoders run in reverse). What
    it returns is the response itself when nothing had to wait, else an awaitable of it
    (:data:`tailor.routing.Outcome`; see :mod:`tailor.pipeline`)."""

    def wrap(self, next_handler: Chain) -> Chain: ...


class StageFactory(Protocol):
    """Builds a stage from config, or returns ``None`` when config switches it off (then it is
    not in the chain at all)."""

    def __call__(self, ctx: BuildContext) -> Stage | None: ...
