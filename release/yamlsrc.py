"""YAML loading that remembers where every value came from, so errors can name `file:line`."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from release.errors import SourceError

Loc = tuple[str | int, ...]

MAX_BYTES = 1 << 20  # an inventory or playbook is a few KB
MAX_DEPTH = 32  # deeper than any inventory or playbook nests; far below Python's recursion limit
MAX_VALUES = 10_000  # values once aliases are expanded: bounds an alias bomb ("billion laughs")
YAML_TAG = "tag:yaml.org,2002:"
KINDS = {"timestamp": "a date", "int": "a number", "float": "a number"}  # else: "a value" (<<, =)
SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class YamlSource:
    """Parsed YAML data plus the line of each key/item path (1-based)."""

    path: Path
    display: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_for(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest parent that has one."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None

    def error(self, loc: Loc, message: str) -> SourceError:
        """A SourceError pointing at `loc` in this file."""
        return SourceError(self.display, self.line_for(loc), dotted(loc), message)

    def validation_error(self, exc: ValidationError, prefix: Loc = ()) -> SourceError:
        """Turn pydantic's first error into one `file:line: where: what` line."""
        errors = exc.errors()
        # a misspelt key also makes the right one "missing": name the misspelling, it is the fix
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        loc = prefix + tuple(p for p in first["loc"] if isinstance(p, str | int))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            reference = "docs/inventory.md" if exc.title == "Inventory" else "the documentation"  # playbooks too
            message = f"unknown key (check its spelling against {reference})"
        elif first["type"] == "missing":
            message = "missing: this key is required"
        return self.error(loc, message)


def dotted(loc: Loc) -> str:
    """`("hosts", "app1", "port")` -> `hosts.app1.port`; list items as `[n]`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def display_path(path: Path) -> str:
    """Show a path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # outside the cwd, or a link loop (RuntimeError until 3.13)
        return str(path)


def load_yaml(path: Path) -> YamlSource:
    """Read a YAML file; every way it can be unreadable or malformed becomes a SourceError with the line."""
    display = display_path(path)
    return parse_yaml(read_text(path, display), path, display)


def read_text(path: Path, display: str) -> str:
    """A regular file's UTF-8 text (YAML and `.env` alike); bytes that are not UTF-8 are named by line."""
    data = read_regular_file(path, display)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        raise SourceError(display, line, "", f"byte 0x{byte:02x} is not UTF-8 text (save the file as UTF-8)") from None


def read_regular_file(path: Path, display: str) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES.

    A FIFO, a directory or a device is refused before it is opened: reading a FIFO waits forever
    for a writer. The open itself is non-blocking and checked again, in case the file was swapped.
    """
    try:
        _check_regular(path.stat().st_mode, display)  # follows links: a loop is ELOOP
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as stream:
            _check_regular(os.fstat(fd).st_mode, display)
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SourceError(display, None, "", "file not found") from None
    except OSError as exc:
        raise SourceError(display, None, "", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise SourceError(display, None, "", f"larger than {MAX_BYTES >> 20} MB: not an inventory or playbook")
    return data


def _check_regular(mode: int, display: str) -> None:
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a special file"
        raise SourceError(display, None, "", f"is {kind}, not a regular file (put the file itself there)")


def text_problem(value: str) -> str | None:
    """Why a string cannot go into a path, a command or the terminal; None when it can."""
    if "\0" in value:
        return "holds a NUL character (remove the \\0)"
    if SURROGATE.search(value):
        return "holds half of a UTF-16 surrogate pair such as \\ud800 (write the character itself)"
    return None


def parse_yaml(text: str, path: Path, display: str) -> YamlSource:
    """Parse YAML text, recording the line of every mapping key and sequence item."""
    try:
        loader = _Loader(text, display)
    except yaml.reader.ReaderError as exc:  # raised up front for text: the whole string is checked
        where = text.count("\n", 0, exc.position) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise SourceError(display, where, "", f"control character U+{code:04X} is not allowed (remove it)") from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(display, line, "", f"YAML syntax error: {exc.problem or exc}") from None
    finally:
        loader.dispose()
    source = YamlSource(path=path, display=display, data=None)
    source.data = _Builder(source, loader).build(node, ()) if node is not None else None
    return source


def _tag_name(tag: str) -> str:
    """`tag:yaml.org,2002:float` -> `!!float`, as it was written."""
    return "!!" + tag.removeprefix(YAML_TAG) if tag.startswith(YAML_TAG) else tag


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses explicit tags and deep nesting while it composes (before any recursion)."""

    def __init__(self, text: str, display: str) -> None:
        super().__init__(text)
        self.display, self.depth = display, 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing `!tag` and nesting deeper than MAX_DEPTH."""
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        tag = getattr(event, "tag", None)
        if tag is not None:  # these files hold plain data: a tag is a typo, Ansible's !vault or an attack
            message = f"YAML tag {_tag_name(tag)} is not allowed (remove it; quote the value if it is text)"
            raise SourceError(self.display, line, "", message)
        if self.depth >= MAX_DEPTH:
            raise SourceError(self.display, line, "", f"nested deeper than {MAX_DEPTH} levels (flatten it)")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


@dataclass
class _Builder:
    """Turns composed nodes into data, bounding what aliases can do (recursion, billion laughs)."""

    source: YamlSource
    loader: _Loader
    count: int = 0
    active: set[int] = field(default_factory=set)

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        """The value of `node` at `loc`, recording lines on the way."""
        self.source.lines.setdefault(loc, node.start_mark.line + 1)
        self.count += 1
        if self.count > MAX_VALUES:
            raise self._error(node, loc, f"more than {MAX_VALUES} values once aliases are expanded (write them out)")
        if len(loc) > MAX_DEPTH:
            raise self._error(node, loc, f"nested deeper than {MAX_DEPTH} levels through aliases (flatten it)")
        if id(node) in self.active:
            raise self._error(node, loc, "an alias refers to the value that holds it (remove the *alias)")
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self._error(key_node, loc, "YAML merge keys (<<) are not supported: write the keys out")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._error(key_node, loc, "a key must be a plain name, not a list or a mapping")
            key = self._scalar(key_node, loc)
            key_loc = loc + (key if isinstance(key, str | int) else str(key),)
            self.source.lines[key_loc] = key_node.start_mark.line + 1
            if key in result:
                raise self.source.error(key_loc, "duplicate key: remove one of them")
            result[key] = self.build(value_node, key_loc)
        return result

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        """A plain value; one that looks like a date or number but is none (2026-02-30) is refused."""
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.constructor.ConstructorError):  # 2026-02-30, 0b_, a lone <<
            kind = KINDS.get(node.tag.removeprefix(YAML_TAG), "a value")
            message = f"{node.value[:40]!r} cannot be read as {kind} (quote it if it is text)"
            raise self._error(node, loc, message) from None
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise self._error(node, loc, f"the text {problem}")
        return value

    def _error(self, node: yaml.Node, loc: Loc, message: str) -> SourceError:
        return SourceError(self.source.display, node.start_mark.line + 1, dotted(loc), message)
