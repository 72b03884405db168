"""The services' traces: the stock OpenTelemetry SDK and instrumentation.

A service traces only when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` names a collector (the
supervisor sets it when the platform is started with ``tracing_endpoint``); the SDK reads the
rest of its settings from its own environment variables (``OTEL_TRACES_SAMPLER``,
``OTEL_BSP_SCHEDULE_DELAY``, ...). The server span of each request continues the caller's
W3C ``traceparent`` (a BFF's Part span), the catalog's aiohttp calls carry theirs inward, and
change events carry one through Redis (:mod:`waveform.services.events`): so one trace spans
the BFF, the value-added service and the foundation services. The services use the stock
SDK because its cost (docs/observability.md) matters little there; the BFFs use tailor's own
spans.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"


def setup_tracing(app: FastAPI, service: str) -> bool:
    """Instrument ``app`` (and aiohttp's client) when a collector is configured; True if so."""
    endpoint = os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="healthz",
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    AioHttpClientInstrumentor().instrument(tracer_provider=provider)
    return True
