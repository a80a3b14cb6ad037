"""Jinja2 rendering of task values: undefined variables are errors, `{{ x }}` alone keeps x's type.

Templates write shell commands (`service.restart`, `shell.cmd`), so a value that lands in one is
written `{{ deploy_to | quote }}`: the `quote` filter is `shlex.quote`, as in Ansible.

Rendering is sandboxed and bounded: output length, the size of numbers and repeated text, range
lengths and the number of loop steps and calls are capped, so a mistaken template (`{{ 10**5000 }}`,
`{{ 'x' * 10**9 }}`, loops inside loops) fails with TemplateFailed instead of hanging or exhausting
memory, and whatever Python raises inside a template (`{{ 1/0 }}`) becomes TemplateFailed too.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

WHOLE_EXPRESSION = re.compile(r"\{\{\s*(.+?)\s*\}\}", re.DOTALL)
MAX_OUTPUT = 64 * 1024  # characters (or items) a template may produce: a command or URL is far shorter
MAX_INT_BITS = 4096  # larger numbers only come from mistakes such as 10**5000
MAX_RANGE = 10_000
MAX_STEPS = 100_000  # loop iterations, calls and filters in one rendering
# a field width of 100000 or more, or one taken from the arguments (`%*d`), in %- or {}-formatting
WIDE_FORMAT = re.compile(r"%[-#0 +]*(\*|\d{6,})|%[-#0 +]*\d*\.(\*|\d{6,})|\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")

_steps_left: ContextVar[int] = ContextVar("template_steps_left", default=MAX_STEPS)


class TemplateFailed(Exception):
    """A template could not be rendered (the message says why)."""


class TooLarge(SecurityError):
    """A template went over one of the bounds."""


def shell_quote(value: Any) -> str:
    """The `quote` filter: one shell word, whatever the value holds (spaces, quotes, `$(…)`).

    None becomes `''` rather than the word `None`, as Ansible's filter does: an unset optional value
    must not turn into a path or an argument nobody wrote.
    """
    return shlex.quote("" if value is None else str(value))


def _step() -> None:
    """Spend one step of this rendering's budget."""
    left = _steps_left.get() - 1
    if left < 0:
        raise TooLarge(f"more than {MAX_STEPS} loop steps and calls (simplify the template)")
    _steps_left.set(left)


def _sized(value: Any) -> Any:
    """`value`, refused if it is text or a collection longer than MAX_OUTPUT."""
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_OUTPUT:
        raise TooLarge(f"a value of more than {MAX_OUTPUT} characters or items")
    return value


def _check_format(text: str) -> None:
    if WIDE_FORMAT.search(text):
        raise TooLarge("a field width of 100000 or more, or one given by '*' (write a small number)")


def _check_ints(args: Iterable[Any]) -> None:
    """Sizes and widths passed to filters and str methods (`center(10**9)`) stay below MAX_OUTPUT."""
    if any(isinstance(a, int) and abs(a) > MAX_OUTPUT for a in args):
        raise TooLarge(f"a size or width above {MAX_OUTPUT}")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    """`replace` multiplies: 60,000 `a`s each replaced by 60,000 characters would be 3.6 GB."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        count = text.count(old) if old else len(text) + 1
        if count * len(new) > MAX_OUTPUT:
            raise TooLarge(f"replacing {count} times with {len(new)} characters")


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    """What a `{% for %}` loop iterates: every item spends a step."""
    for item in items:
        _step()
        yield item


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise TooLarge(f"range of {len(result)} numbers (at most {MAX_RANGE})")
    return result


def _bounded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that spends a step, takes no huge size argument and returns no huge value."""
    skip = 2 if getattr(func, "jinja_pass_arg", None) is not None else 1  # the value (and context) may be big

    @functools.wraps(func)  # keeps jinja_pass_arg: pass_context filters still get their context
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _step()
        _check_ints([*args[skip:], *kwargs.values()])
        if func.__name__ == "do_format" and len(args) >= skip and isinstance(args[skip - 1], str):
            _check_format(args[skip - 1])
        if func.__name__ == "do_replace" and len(args) >= skip + 2:
            _check_replace(*args[skip - 1 : skip + 2])
        return _sized(func(*args, **kwargs))

    return bounded


def _power(left: Any, right: Any) -> Any:
    ints = isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0
    if ints and right * abs(left).bit_length() > MAX_INT_BITS:
        raise TooLarge(f"{left} ** {right} is too large a number")
    return left**right


def _times(left: Any, right: Any) -> Any:
    for count, seq in ((left, right), (right, left)):
        if isinstance(count, int) and isinstance(seq, str | list | tuple) and count * len(seq) > MAX_OUTPUT:
            raise TooLarge(f"repeating {len(seq)} characters or items {count} times")
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise TooLarge("too large a number")
    return left * right


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        _check_format(left)
    return _sized(left % right)


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with bounds on output, numbers, ranges, loop steps and calls."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 - shell text, not HTML
        self.filters["quote"] = shell_quote
        self.filters = {name: _bounded_filter(func) for name, func in self.filters.items()}
        self.globals["range"] = _bounded_range
        self.globals["_counted"] = _counted
        self.binop_table = {**self.binop_table, "**": _power, "*": _times, "%": _modulo}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Parse, then make every `{% for %}` loop iterate through `_counted` (one step per item)."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name("_counted", "load"), [loop.iter], [], None, None)
        return tree

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - as Jinja's
        """A call spends a step; str methods take no huge size (`'x'.center(10**9)`)."""
        _step()
        if isinstance(getattr(__obj, "__self__", None), str):
            _check_ints([*args, *kwargs.values()])
            if __obj.__name__ == "replace" and len(args) >= 2:
                _check_replace(__obj.__self__, *args[:2])
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`'{:>999999}'.format(x)` is refused before it allocates."""
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_format(obj)
        return super().getattr(obj, attribute)


_jinja = BoundedSandbox()


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render strings in `value` (recursively through lists and dicts)."""
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    return _guarded(f"template {_short(value)}", lambda: _render_text(value, context))


def check_syntax(value: str, expression: bool = False) -> None:
    """Parse a template (or a bare `when:` expression) without rendering it: TemplateFailed on a typo."""
    if expression:
        _guarded(f"when {_short(value)}", lambda: _jinja.compile_expression(value))
    elif "{{" in value or "{%" in value:
        _guarded(f"template {_short(value)}", lambda: _jinja.parse(value))


def truth(expression: str, context: dict[str, Any]) -> bool:
    """Evaluate a `when:` expression (bare Jinja2, as in Ansible)."""
    what = f"when {_short(expression)}"
    result = _guarded(what, lambda: _jinja.compile_expression(expression, undefined_to_none=False)(**context))
    return bool(_defined(result, what))


def _render_text(value: str, context: dict[str, Any]) -> Any:
    whole = WHOLE_EXPRESSION.fullmatch(value)
    if whole and "}}" not in whole.group(1):
        result = _jinja.compile_expression(whole.group(1), undefined_to_none=False)(**context)
        return _sized(_defined(result, value))
    out: list[str] = []
    size = 0
    for chunk in _jinja.from_string(value).generate(**context):  # streamed: stop at the bound, not after
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise TooLarge(f"output longer than {MAX_OUTPUT} characters")
        out.append(chunk)
    return "".join(out)


def _guarded(what: str, work: Callable[[], Any]) -> Any:
    """Run one rendering with a fresh step budget; any error inside it becomes TemplateFailed.

    A template evaluates arbitrary expressions, so whatever Python raises in one (ZeroDivisionError,
    TypeError, OverflowError, RecursionError, MemoryError) is the template's mistake: that is why this
    catches every Exception, and only here.
    """
    token = _steps_left.set(MAX_STEPS)
    try:
        return work()
    except TemplateFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise TemplateFailed(f"{what}: {str(exc) or type(exc).__name__}") from None
    finally:
        _steps_left.reset(token)


def _short(text: str) -> str:
    """A template as shown in messages: quoted, cut at 80 characters."""
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


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
