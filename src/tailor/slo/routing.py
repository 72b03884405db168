"""One Alertmanager routing tree for every BFF: pages to the pager, tickets to the queue,
grouped per SLO, a ticket held back while the same SLO pages."""

from __future__ import annotations

from typing import Any

from tailor.slo.rules import ALERTS, SLO_LABELS
from tailor.slo.spec import SloSpec


def alertmanager_config(spec: SloSpec) -> dict[str, Any]:
    """The Alertmanager config of ``spec``'s receivers.

    >>> from tailor.slo.spec import parse
    >>> spec = parse({"alerting": {"page": {"webhook_url": "http://127.0.0.1:9095/page"},
    ...                            "ticket": {"webhook_url": "http://127.0.0.1:9095/ticket"}},
    ...               "bffs": {"tv": {"app": "m", "classes": {"read": {"availability": 0.99}}}}})
    >>> [r["receiver"] for r in alertmanager_config(spec)["route"]["routes"]]
    ['page', 'ticket']
    """
    severities = sorted({a.severity for a in ALERTS})
    repeat = {"page": "1h", "ticket": "24h"}
    return {
        "route": {
            "receiver": "ticket",  # anything unrouted is looked at, not lost
            "group_by": ["alertname", *SLO_LABELS],
            "group_wait": f"{spec.alerting.group_wait_s}s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {"receiver": s, "matchers": [f'severity="{s}"'], "repeat_interval": repeat[s]}
                for s in severities
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="page"'],
                "target_matchers": ['severity="ticket"'],
                "equal": list(SLO_LABELS),
            }
        ],
        "receivers": [
            {
                "name": "page",
                "webhook_configs": [{"url": spec.alerting.page.webhook_url, "send_resolved": True}],
            },
            {
                "name": "ticket",
                "webhook_configs": [
                    {"url": spec.alerting.ticket.webhook_url, "send_resolved": False}
                ],
            },
        ],
    }
