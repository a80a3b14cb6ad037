"""A URL that may carry a token (a chat robot's `?key=…`, a webhook's path): masked by construction.

Robot and webhook URLs are credentials: whoever has one can post to the customer's group. The type
holds the URL; printing, formatting or logging it shows only scheme, host and port, and the real URL
is read only by `get_secret_value()` where it is used. A URL that carries nothing beyond its host
prints whole.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from release.log import MASK


class SecretUrl:
    """An http(s) URL whose path, query, fragment and credentials never reach a log or an output."""

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        self._url = url

    def get_secret_value(self) -> str:
        """The real URL, for the HTTP client alone."""
        return self._url

    def secret_parts(self) -> list[str]:
        """What the log redactor must mask wherever it appears: the URL, its path and its query."""
        parts = urlsplit(self._url)
        return [p for p in (self._url, parts.path if parts.path not in ("", "/") else "", parts.query) if p]

    def masked(self) -> str:
        """Scheme, host and port; `***` when anything else is there."""
        parts = urlsplit(self._url)
        host = parts.hostname or ""
        shown = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{f':{parts.port}' if parts.port else ''}"
        secret = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password
        return f"{shown}/{MASK}" if secret else shown

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"SecretUrl('{self.masked()}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretUrl) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Validated from a string; dumped (model_dump, JSON) masked."""
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )
