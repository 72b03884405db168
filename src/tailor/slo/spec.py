"""The SLO spec: per BFF and route class, an availability objective and a latency objective,
and where pages and tickets go. Read from TOML; a bad spec stops generation naming the key.

.. code-block:: toml

    [alerting]
    page = { webhook_url = "http://127.0.0.1:9095/page" }
    ticket = { webhook_url = "http://127.0.0.1:9095/ticket" }

    [bffs.mobile]
    app = "waveform.bffs.mobile.app"
    [bffs.mobile.classes.read]
    availability = 0.999
    latency = { threshold_s = 0.25, objective = 0.99 }
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec

from tailor.errors import ConfigError
from tailor.observe.metrics import _LATENCY_BUCKETS as LATENCY_BUCKETS
from tailor.validation import convert

#: A share of good events: more than 0 and less than 1 (1 leaves no budget to burn).
Objective = Annotated[float, msgspec.Meta(gt=0, lt=1)]
_NAME = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
_URL = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/]+(/\S*)?$")]


class Latency(msgspec.Struct, forbid_unknown_fields=True):
    """``objective`` of the route class's requests answered within ``threshold_s``, one of
    the bounds of ``tailor_request_duration_seconds`` (a slower-than count needs a bucket).

    >>> Latency(threshold_s=0.25, objective=0.99).threshold_s
    0.25
    """

    threshold_s: float
    objective: Objective

    def __post_init__(self) -> None:
        if self.threshold_s not in LATENCY_BUCKETS:
            bounds = ", ".join(str(b) for b in LATENCY_BUCKETS)
            raise ValueError(f"threshold_s must be a latency bucket bound: one of {bounds}")


class ClassObjectives(msgspec.Struct, forbid_unknown_fields=True):
    """The objectives of one route class: the share of requests that are not a 5xx, and the
    latency one. Either may be left out, not both.

    >>> ClassObjectives(availability=0.999).latency is None
    True
    """

    availability: Objective | None = None
    latency: Latency | None = None


class BffObjectives(msgspec.Struct, forbid_unknown_fields=True):
    """One BFF: ``app`` names its module (``package.module`` with ``PROFILE`` and
    ``build(config)``, or ``package.module:factory``) for its routes, route classes and admin
    port; ``job`` is the Prometheus job its admin port is scraped as (its name by default);
    ``classes`` covers every route class the BFF has.

    >>> BffObjectives("waveform.bffs.tv.app", {"read": ClassObjectives(0.999)}).job is None
    True
    """

    app: str
    classes: dict[str, ClassObjectives]
    job: _NAME | None = None


class Receiver(msgspec.Struct, forbid_unknown_fields=True):
    """Where the Alertmanager posts a severity's notifications.

    >>> Receiver("http://127.0.0.1:9095/page").webhook_url
    'http://127.0.0.1:9095/page'
    """

    webhook_url: _URL


class Alerting(msgspec.Struct, forbid_unknown_fields=True):
    """Where pages and tickets go, and the Alertmanager and scrape timings. ``group_wait_s``
    is how long the Alertmanager gathers a new group's alerts before the first notification.

    >>> Alerting(Receiver("http://h/page"), Receiver("http://h/ticket")).group_wait_s
    30
    """

    page: Receiver
    ticket: Receiver
    alertmanager: str = "127.0.0.1:9093"
    scrape_interval_s: Annotated[int, msgspec.Meta(ge=1, le=300)] = 15
    group_wait_s: Annotated[int, msgspec.Meta(ge=0, le=600)] = 30


class SloSpec(msgspec.Struct, forbid_unknown_fields=True):
    """The whole paging surface: alerting, and the objectives of every BFF.

    >>> spec = parse({
    ...     "alerting": {"page": {"webhook_url": "http://127.0.0.1:9095/page"},
    ...                  "ticket": {"webhook_url": "http://127.0.0.1:9095/ticket"}},
    ...     "bffs": {"tv": {"app": "waveform.bffs.tv.app",
    ...                     "classes": {"read": {"availability": 0.999}}}}})
    >>> spec.bffs["tv"].classes["read"].availability
    0.999
    """

    alerting: Alerting
    bffs: Annotated[dict[_NAME, BffObjectives], msgspec.Meta(min_length=1)]


def parse(data: dict[str, Any]) -> SloSpec:
    """Validate a decoded spec; a :class:`ConfigError` names the key at fault."""
    spec = convert(data, SloSpec)
    for name, bff in spec.bffs.items():
        for cls, objectives in bff.classes.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", cls):
                raise ConfigError(f"bffs.{name}.classes.{cls}", "not a route class name")
            if objectives.availability is None and objectives.latency is None:
                raise ConfigError(
                    f"bffs.{name}.classes.{cls}", "give availability, latency or both"
                )
    return spec


def load(path: str | Path) -> SloSpec:
    """The spec in the TOML file at ``path``."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as exc:
        raise ConfigError("<file>", f"cannot read {p}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("<file>", f"{p} is not valid TOML: {exc}") from exc
    return parse(data)
