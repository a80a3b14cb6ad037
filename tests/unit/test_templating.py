"""Jinja2 rendering of task values and `when:` expressions."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from release.playbook.templating import TemplateFailed, render, truth

HOST = {"name": "app1", "address": "10.0.0.11", "roles": ["app", "web"]}
CONTEXT: dict[str, Any] = {
    "version": "1.10",
    "env": "prod",
    "host": HOST,
    "shared_paths": ["logs", "uploads"],
    "service": None,
    "health": {"url": "http://10.0.0.11:8080/health", "expect_status": 200, "timeout": 60.0},
    "release_path": "/opt/oa/releases/20261124T190501Z-1.10",
    "count": 3,
    "nothing": None,
    "empty": [],
}


# fmt: off
@pytest.mark.parametrize(("value", "expected"), [
    pytest.param("{{ shared_paths }}", ["logs", "uploads"], id="list-keeps-type"),
    pytest.param("{{shared_paths}}", ["logs", "uploads"], id="list-no-spaces"),
    pytest.param("{{ service }}", None, id="none-keeps-type"),
    pytest.param("{{ health.expect_status }}", 200, id="int-keeps-type"),
    pytest.param("{{ health.timeout }}", 60.0, id="float-keeps-type"),
    pytest.param("{{ health }}", CONTEXT["health"], id="dict-keeps-type"),
    pytest.param("{{ host.roles }}", ["app", "web"], id="attribute-list"),
    pytest.param("{{ count > 2 }}", True, id="bool-expression"),
    pytest.param("{{ version }}", "1.10", id="string-1.10-stays-a-string"),
    pytest.param("1.10", "1.10", id="plain-1.10-untouched"),
    pytest.param("{{ count }} hosts", "3 hosts", id="mixed-text-is-a-string"),
    pytest.param("{{ count }}{{ count }}", "33", id="two-expressions-are-a-string"),
    pytest.param("{{ shared_paths | join(',') }}", "logs,uploads", id="filter"),
    pytest.param("http://{{ host.address }}:8080/", "http://10.0.0.11:8080/", id="url"),
    pytest.param("{% if service %}restart{% else %}skip{% endif %}", "skip", id="statement"),
    pytest.param("{{ missing | default('x') }}", "x", id="default-filter-allows-undefined"),
    pytest.param("no template here", "no template here", id="plain-string"),
    pytest.param("${NOT_JINJA}", "${NOT_JINJA}", id="dollar-brace-untouched"),
    pytest.param(42, 42, id="non-string-untouched"),
    pytest.param(None, None, id="none-untouched"),
    pytest.param({"cmd": "cd {{ release_path }}", "n": "{{ count }}"},
                 {"cmd": "cd /opt/oa/releases/20261124T190501Z-1.10", "n": 3}, id="dict-recursive"),
    pytest.param(["{{ env }}", ["{{ count }}"]], ["prod", [3]], id="list-recursive"),
    pytest.param("line\n{{ env }}\n", "line\nprod\n", id="trailing-newline-kept"),
    pytest.param("{{ env }}\n", "prod\n", id="single-expression-then-newline"),
])
# fmt: on
def test_render(value: Any, expected: Any) -> None:
    result = render(value, CONTEXT)
    assert result == expected
    assert type(result) is type(expected)


# fmt: off
@pytest.mark.parametrize(("value", "context", "names"), [
    pytest.param("{{ missing }}", {}, ("{{ missing }}", "'missing' is undefined"), id="whole-expression"),
    pytest.param("cd {{ missing }}", {}, ("cd {{ missing }}", "'missing' is undefined"), id="inside-text"),
    pytest.param("{{ missing.attr }}", {}, ("'missing' is undefined",), id="attribute-of-undefined"),
    pytest.param("{{ host.port }}", {"host": HOST}, ("{{ host.port }}", "has no attribute 'port'"),
                 id="missing-attribute"),
    pytest.param("{% if missing %}x{% endif %}", {}, ("'missing' is undefined",), id="in-a-statement"),
    pytest.param("{{ version | nofilter }}", CONTEXT, ("No filter named 'nofilter'",), id="unknown-filter"),
    pytest.param("{{ version", CONTEXT, ("template '{{ version'", "unexpected end of template"),
                 id="syntax-error"),
    pytest.param("{{ ''.__class__ }}", {}, ("unsafe",), id="sandboxed"),
    pytest.param({"args": ["ok", "{{ missing }}"]}, {}, ("'missing' is undefined",), id="nested"),
    pytest.param("{{ [missing] }}", {}, ("'missing' is undefined",), id="undefined-inside-a-list"),
    pytest.param("cd {{ missing | quote }}", {}, ("'missing' is undefined",), id="quote-of-undefined"),
])
# fmt: on
def test_render_errors_name_the_problem(value: Any, context: dict[str, Any], names: tuple[str, ...]) -> None:
    with pytest.raises(TemplateFailed) as caught:
        render(value, context)
    for name in names:
        assert name in str(caught.value)


# fmt: off
@pytest.mark.parametrize(("expression", "expected"), [
    pytest.param("service", False, id="none-is-false"),
    pytest.param("health", True, id="mapping-is-true"),
    pytest.param("empty", False, id="empty-list-is-false"),
    pytest.param("shared_paths", True, id="list-is-true"),
    pytest.param("count", True, id="non-zero-is-true"),
    pytest.param("count - 3", False, id="zero-is-false"),
    pytest.param("True", True, id="loaded-from-yaml-true"),    # loader: `when: true` -> "True"
    pytest.param("False", False, id="loaded-from-yaml-false"),
    pytest.param("version != '1.0'", True, id="comparison"),
    pytest.param("version == '1.10'", True, id="version-compared-as-string"),
    pytest.param("'web' in host.roles", True, id="role-membership"),
    pytest.param("'db' in host.roles", False, id="role-not-member"),
    pytest.param("service and service.restart", False, id="short-circuit-on-none"),
    pytest.param("health.expect_status == 200 and env == 'prod'", True, id="and"),
    pytest.param("missing is defined", False, id="is-defined-test"),
])
# fmt: on
def test_when_truthiness(expression: str, expected: bool) -> None:
    assert truth(expression, CONTEXT) is expected


# fmt: off
@pytest.mark.parametrize(("expression", "fragment"), [
    pytest.param("missing", "when 'missing': 'missing' is undefined", id="undefined"),
    pytest.param("missing == 1", "when 'missing == 1'", id="undefined-in-comparison"),
    pytest.param("version ==", "when 'version =='", id="syntax"),
])
# fmt: on
def test_when_errors(expression: str, fragment: str) -> None:
    with pytest.raises(TemplateFailed) as caught:
        truth(expression, CONTEXT)
    assert fragment in str(caught.value)


# fmt: off
@pytest.mark.parametrize(("template", "value", "expected"), [
    pytest.param("{{ v | quote }}", "/opt/oa portal", "'/opt/oa portal'", id="spaces"),
    pytest.param("{{ v | quote }}", "it's \"here\"", "'it'\"'\"'s \"here\"'", id="single-and-double-quotes"),
    pytest.param("{{ v | quote }}", "/opt/oa-portal", "/opt/oa-portal", id="safe-value-unchanged"),
    pytest.param("{{ v | quote }}", "", "''", id="empty-string"),
    pytest.param("{{ v | quote }}", 8080, "8080", id="number"),
    pytest.param("{{ v | quote }}", None, "''", id="none-is-empty-as-in-ansible"),
    pytest.param("cd {{ v | quote }}/shared", "/a b", "cd '/a b'/shared", id="inside-text"),
    pytest.param("ls {{ v | map('quote') | join(' ') }}", ["a b", "c"], "ls 'a b' c", id="each-item-of-a-list"),
])
# fmt: on
def test_quote_filter(template: str, value: Any, expected: str) -> None:
    assert render(template, {"v": value}) == expected


HOSTILE_PATHS = [
    "/srv/app $(touch {canary})",
    "/srv/app`touch {canary}`",
    "/srv/app; touch {canary}",
    "/srv/it's && touch {canary} #",
    '/srv/"$(touch {canary})"',
]


@pytest.mark.parametrize("pattern", HOSTILE_PATHS)
def test_a_quoted_path_stays_inert_in_bash(tmp_path: Path, pattern: str) -> None:
    canary = tmp_path / "pwned"
    path = pattern.format(canary=canary)
    command = render("printf '%s' {{ deploy_to | quote }}/shared", {"deploy_to": path})
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    assert done.stdout == f"{path}/shared"
    assert not canary.exists()
