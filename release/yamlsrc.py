"""YAML loading that remembers where every value came from, so errors can name `file:line`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from release.errors import SourceError

Loc = tuple[str | int, ...]


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
            message = "unknown key (check its spelling against the documentation)"
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
    except ValueError:
        return str(path)


def load_yaml(path: Path) -> YamlSource:
    """Read a YAML file; syntax errors become SourceError with the line."""
    display = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(display, None, "", "file not found") from None
    except OSError as exc:
        raise SourceError(display, None, "", f"cannot read: {exc.strerror}") from None
    return parse_yaml(text, path, display)


def parse_yaml(text: str, path: Path, display: str) -> YamlSource:
    """Parse YAML text, recording the line of every mapping key and sequence item."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(display, line, "", f"YAML syntax error: {exc.problem or exc}") from None
    finally:
        loader.dispose()
    source = YamlSource(path=path, display=display, data=None)
    try:
        source.data = _build(node, (), source, loader) if node is not None else None
    except yaml.MarkedYAMLError as exc:  # unknown tags such as Ansible's !vault
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        raise SourceError(display, mark.line + 1 if mark else None, "", f"YAML: {problem}") from None
    return source


def _build(node: yaml.Node, loc: Loc, source: YamlSource, loader: yaml.SafeLoader) -> Any:
    source.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                line = key_node.start_mark.line + 1
                raise SourceError(
                    source.display, line, dotted(loc), "YAML merge keys (<<) are not supported: write the keys out"
                )
            key = loader.construct_object(key_node, deep=True)
            key_loc = loc + (key if isinstance(key, str | int) else str(key),)
            source.lines[key_loc] = key_node.start_mark.line + 1
            if key in result:
                raise source.error(key_loc, "duplicate key: remove one of them")
            result[key] = _build(value_node, key_loc, source, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), source, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
