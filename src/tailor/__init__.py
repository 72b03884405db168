"""tailor: the edge library every Backend-for-Frontend is built on.

A BFF is a thin module: routes, aggregation plans, response shapes and a profile (config).
tailor owns the rest: limits, header hygiene, authentication, aggregation with deadlines and
partial degradation, error mapping to RFC 9457 problems, and metrics.
"""

from tailor.aggregate import AggregateBody, Inputs, Part, Plan, PlanResult, aggregate
from tailor.app import BFF
from tailor.config import Config, build_config, load_config
from tailor.errors import (
    BadRequest,
    ConfigError,
    HTTPProblem,
    NotFound,
    TailorError,
    Unauthorized,
    UpstreamError,
)
from tailor.http import Request, Response, json_response

__all__ = [
    "BFF",
    "AggregateBody",
    "BadRequest",
    "Config",
    "ConfigError",
    "HTTPProblem",
    "Inputs",
    "NotFound",
    "Part",
    "Plan",
    "PlanResult",
    "Request",
    "Response",
    "TailorError",
    "Unauthorized",
    "UpstreamError",
    "aggregate",
    "build_config",
    "json_response",
    "load_config",
]
