"""tailor: the edge library every Backend-for-Frontend is built on.

A BFF is a thin module: routes, aggregation plans, response shapes and a profile (config).
tailor owns the rest: limits, header hygiene, authentication, aggregation with deadlines and
partial degradation, error mapping to RFC 9457 problems, and metrics.

Everything a BFF module needs is importable from here (``__all__``); testing helpers are in
:mod:`tailor.testing`. Deeper modules are for extending tailor itself.
"""

from tailor.aggregate import AggregateBody, Degradation, Inputs, Part, Plan, PlanResult, aggregate
from tailor.app import BFF
from tailor.cache import CachePolicy, tag
from tailor.config import Config, build_config, load_config
from tailor.errors import (
    BadRequest,
    ConfigError,
    HTTPProblem,
    NotFound,
    TailorError,
    Unauthorized,
    UpstreamDecodeError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tailor.http import Json, Request, Response, json_response
from tailor.params import Bool, Int, Query, Token
from tailor.serve.run import config_from_env, main

__all__ = [
    "BFF",
    "AggregateBody",
    "BadRequest",
    "Bool",
    "CachePolicy",
    "Config",
    "ConfigError",
    "Degradation",
    "HTTPProblem",
    "Inputs",
    "Int",
    "Json",
    "NotFound",
    "Part",
    "Plan",
    "PlanResult",
    "Query",
    "Request",
    "Response",
    "TailorError",
    "Token",
    "Unauthorized",
    "UpstreamDecodeError",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "aggregate",
    "build_config",
    "config_from_env",
    "json_response",
    "load_config",
    "main",
    "tag",
]
