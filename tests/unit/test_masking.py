"""Masking hides a secret where it stands as a value and corrupts nothing else (issue 11).

A database password `postgres` once turned the `engine` field of --json output into "***ql".
"""

from __future__ import annotations

import json

import pytest

from release.cli_common import emit
from release.context import Context
from release.log import Redactor

CASES = [
    ("engine: postgresql", "engine: postgresql"),  # inside a longer word: not the password
    ("password=postgres", "password=***"),
    ("postgres://oa:postgres@db:5432/oa", "***://oa:***@db:5432/oa"),  # the scheme is the same word: masked too
    ("PGPASSWORD='postgres' pg_dump", "PGPASSWORD='***' pg_dump"),
    ("postgres", "***"),
    ("mypostgres1", "mypostgres1"),
]


@pytest.mark.parametrize(("text", "masked"), CASES)
def test_a_secret_is_masked_as_a_whole_value(text: str, masked: str) -> None:
    masker = Redactor()
    masker.add("postgres")
    assert masker.mask(text) == masked


def test_secrets_with_symbols_and_the_longest_first() -> None:
    masker = Redactor()
    masker.add("p@ss-w0rd!", "p@ss")
    assert masker.mask("login p@ss-w0rd! then p@ss.") == "login *** then ***."
    assert masker.mask("nothing here") == "nothing here"


def test_json_output_keeps_its_fields_and_masks_values(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    masker = Redactor()  # the process-wide one would keep the secret for every later test
    masker.add("postgres")
    monkeypatch.setattr("release.cli_common.redactor", masker)
    data = {"engine": "postgresql", "postgres": 5432, "error": "auth failed for postgres", "hosts": ["postgres"]}
    emit(Context(json_output=True, interactive=False), data)
    out = json.loads(capsys.readouterr().out)
    assert out == {"engine": "postgresql", "postgres": 5432, "error": "auth failed for ***", "hosts": ["***"]}
