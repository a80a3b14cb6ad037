"""Jinja2 rendering of task values: undefined variables are errors, `{{ x }}` alone keeps x's type.

Templates write shell commands (`service.restart`, `shell.cmd`), so a value that lands in one is
written `{{ deploy_to | quote }}`: the `quote` filter is `shlex.quote`, as in Ansible.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

WHOLE_EXPRESSION = re.compile(r"\{\{\s*(.+?)\s*\}\}", re.DOTALL)


def shell_quote(value: Any) -> str:
    """The `quote` filter: one shell word, whatever the value holds (spaces, quotes, `$(…)`).

    None becomes `''` rather than the word `None`, as Ansible's filter does: an unset optional value
    must not turn into a path or an argument nobody wrote.
    """
    return shlex.quote("" if value is None else str(value))


_jinja = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 - shell text, not HTML
_jinja.filters["quote"] = shell_quote


class TemplateFailed(Exception):
    """A template could not be rendered (the message says why)."""


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render strings in `value` (recursively through lists and dicts)."""
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    try:
        whole = WHOLE_EXPRESSION.fullmatch(value)
        if whole and "}}" not in whole.group(1):
            return _defined(_jinja.compile_expression(whole.group(1), undefined_to_none=False)(**context), value)
        return _jinja.from_string(value).render(**context)
    except TemplateError as exc:
        raise TemplateFailed(f"template {value!r}: {exc}") from None


def truth(expression: str, context: dict[str, Any]) -> bool:
    """Evaluate a `when:` expression (bare Jinja2, as in Ansible)."""
    try:
        result = _jinja.compile_expression(expression, undefined_to_none=False)(**context)
    except TemplateError as exc:
        raise TemplateFailed(f"when {expression!r}: {exc}") from None
    return bool(_defined(result, f"when {expression!r}"))


def _defined(result: Any, what: str) -> Any:
    """Refuse an Undefined anywhere in the result (`{{ [missing] }}` too)."""
    if isinstance(result, Undefined):
        raise TemplateFailed(f"{what}: {result._undefined_message}")
    if isinstance(result, list | tuple):
        for item in result:
            _defined(item, what)
    elif isinstance(result, dict):
        for item in result.values():
            _defined(item, what)
    return result
