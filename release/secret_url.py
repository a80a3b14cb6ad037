"""A URL that may carry a secret (a robot's token, a password) and never prints it.

Chat robots and alert webhooks put their token in the URL (`…/send?key=…`, `…/hook/<token>`, or
`user:password@`), so the URL itself is a credential: anything that prints it — a log line, an
exception, a JSON dump of the inventory — must show only where it goes. `SecretUrl` is masked by
construction, as pydantic's `SecretStr` is: `str()`, `repr()`, f-strings and JSON serialisation
give `https://qyapi.weixin.qq.com/***`; only `get_secret_value()` gives the URL, for the HTTP
client. A URL with nothing after its host and port holds no secret and prints whole
(`https://hooks.example.com`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from release.log import MASK, Redactor


class SecretUrl:
    """An http(s) URL whose path, query, fragment and userinfo are kept out of every printed form."""

    __slots__ = ("_url", "_parts")

    def __init__(self, url: str) -> None:
        """Parse `url`; a ValueError says what is wrong without repeating the URL (it is the secret)."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        self._url = url
        self._parts = parts

    def get_secret_value(self) -> str:
        """The real URL: for the HTTP client only, never for a message."""
        return self._url

    @property
    def has_secret(self) -> bool:
        """Whether anything beyond scheme, host and port is present (a token may hide in any of it)."""
        parts = self._parts
        return parts.path not in ("", "/") or bool(parts.query or parts.fragment) or "@" in parts.netloc

    def secret_parts(self) -> list[str]:
        """What the log redactor must mask wherever it appears: the URL, path and query, userinfo, query values.

        Pieces are registered as well as the whole URL because an HTTP library's error or a request
        line may quote only the path and query, or a query value on its own.
        """
        if not self.has_secret:
            return []
        parts = self._parts
        userinfo = parts.netloc.rpartition("@")[0]
        decoded = [value for _, value in parse_qsl(parts.query)]
        raw = [pair.partition("=")[2] for pair in parts.query.split("&")]
        pieces = [self._url, _tail(parts), parts.path, parts.fragment, userinfo, parts.password or "", *decoded, *raw]
        return [piece for piece in dict.fromkeys(pieces) if piece and piece != "/"]

    def redact(self, text: str) -> str:
        """`text` (an exception's message, a robot's answer) with this URL shown masked and its parts hidden."""
        masker = Redactor()
        masker.add(*self.secret_parts())
        return masker.mask(text.replace(self._url, str(self)))

    def __str__(self) -> str:
        host = self._parts.netloc.rpartition("@")[2]  # keeps the port and IPv6 brackets as written
        shown = f"{self._parts.scheme}://{host}"
        return f"{shown}/{MASK}" if self.has_secret else shown

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretUrl) and self._url == other._url

    def __hash__(self) -> int:
        return hash(self._url)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Validated from a string; an instance passes as is; JSON dumps get the masked form, as SecretStr's do."""
        from_text = core_schema.no_info_after_validator_function(cls, core_schema.str_schema())
        return core_schema.json_or_python_schema(
            json_schema=from_text,
            python_schema=core_schema.no_info_wrap_validator_function(_keep_instance, from_text),
            serialization=core_schema.plain_serializer_function_ser_schema(_dump, info_arg=True),
        )


def _keep_instance(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
    """A SecretUrl given to a model (model_copy, a test) is kept, not turned into a string and back."""
    return value if isinstance(value, SecretUrl) else handler(value)


def _dump(value: SecretUrl, info: core_schema.SerializationInfo) -> SecretUrl | str:
    """model_dump() keeps the object (still masked when printed); JSON gets the masked text, never the URL."""
    return str(value) if info.mode_is_json() else value


def _tail(parts: SplitResult) -> str:
    """Path, query and fragment as written: the part of a robot's URL that holds its token."""
    tail = parts.path
    if parts.query:
        tail += f"?{parts.query}"
    if parts.fragment:
        tail += f"#{parts.fragment}"
    return tail
