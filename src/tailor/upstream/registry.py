"""The static service registry: upstream name -> base URL, from config only.

A handler names an upstream; it never supplies a host. Paths are joined to the base URL after
their parameters were checked, so client input cannot change which service is called.
"""

from __future__ import annotations

from collections.abc import Mapping

from tailor.errors import ConfigError


class ServiceRegistry:
    """
    >>> ServiceRegistry({"users": "http://127.0.0.1:9002/"}).url("users", "/users/u1")
    'http://127.0.0.1:9002/users/u1'
    """

    def __init__(self, upstreams: Mapping[str, str]) -> None:
        self._base = {name: url.rstrip("/") for name, url in upstreams.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._base

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._base)

    def require(self, names: set[str]) -> None:
        """Fail startup when a BFF uses an upstream the config does not name."""
        for name in sorted(names - set(self._base)):
            raise ConfigError(f"upstreams.{name}", "this BFF calls it, but no URL is configured")

    def url(self, name: str, path: str) -> str:
        return self._base[name] + path
