"""Resilience: what keeps a BFF answering when the services behind it misbehave.

Per upstream (policies in ``resilience.default``, overridden by ``resilience.upstreams.<name>``):

    retry       idempotent calls only, full-jitter backoff, at most 3 attempts, never past the
                call's budget, and a retry budget (retries <= 20% of calls, plus one, over any
                stretch of time: a token bucket that healthy traffic cannot fill past one retry)
    breaker     fails fast once an upstream's failure rate is over a threshold or after 5
                failures in a row (any 5xx or transport error); half-open probes after a
                cool-down; one breaker per upstream, shared by every endpoint
    bulkhead    a concurrency limit; a call over it waits briefly, then fails fast
    hedge       optional second attempt of an idempotent call after a latency threshold

Per request: a cap on upstream calls (fan-out storm guard) and, at the edge, load shedding
(:mod:`tailor.stages.shed`). Per part: last-known-good fallbacks (:mod:`.lastgood`).

The module is deliberately import-light (``tailor.config`` imports its settings); import the
pieces from their modules: ``tailor.resilience.transport.ResilientTransport`` and so on.
"""
