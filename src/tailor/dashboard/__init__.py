"""One dashboard for all BFFs: ``python -m tailor dashboard --target mobile=http://...``.

It scrapes each BFF's admin ``/metrics`` (:mod:`.scrape`), keeps a short history, turns it into
one view per BFF (:mod:`.view`: rates, errors, latency, upstreams, breakers, cache, refusals,
degraded parts, clients, SLO burn, version skew) and serves a page that polls that view as JSON
(:mod:`.server`). See docs/dashboard.md.
"""
