"""One paging surface for all BFFs: typed SLO specs (:mod:`.spec`) generate Prometheus
recording rules and multi-window burn-rate alerts (:mod:`.rules`) and one Alertmanager routing
tree (:mod:`.routing`); ``python -m tailor slo`` writes them (:mod:`.cli`, docs/slo.md).
"""
