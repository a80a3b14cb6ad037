"""SecretUrl: a URL holding a token prints as scheme, host and `***` in every form but get_secret_value()."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from release.log import Redactor
from release.secret_url import SecretUrl

TOKEN = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
WECOM = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}"


class Holder(BaseModel):
    hook: SecretUrl | None = None


# fmt: off
@pytest.mark.parametrize(("url", "shown"), [
    pytest.param(WECOM, "https://qyapi.weixin.qq.com/***", id="wecom-key-in-query"),
    pytest.param("https://oapi.dingtalk.com/robot/send?access_token=x", "https://oapi.dingtalk.com/***",
                 id="dingtalk"),
    pytest.param(f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}", "https://open.feishu.cn/***",
                 id="feishu-token-in-path"),
    pytest.param("http://user:pw@10.0.0.9:8080/", "http://10.0.0.9:8080/***", id="userinfo-only"),
    pytest.param("http://10.0.0.9:8080/#frag", "http://10.0.0.9:8080/***", id="fragment-only"),
    pytest.param("http://10.0.0.9:8080/?k=v", "http://10.0.0.9:8080/***", id="query-only"),
    pytest.param("https://[fd00::1]:8443/hook", "https://[fd00::1]:8443/***", id="ipv6-with-port"),
    pytest.param("http://10.0.0.9:8080/", "http://10.0.0.9:8080", id="nothing-secret"),
    pytest.param("https://hooks.example.com", "https://hooks.example.com", id="bare-host"),
])
# fmt: on
def test_every_printed_form_is_masked(url: str, shown: str) -> None:
    secret = SecretUrl(url)
    assert str(secret) == f"{secret}" == "%s" % (secret,) == shown  # noqa: UP031 - old-style formatting too
    assert f"{secret:>40}" == f"{shown:>40}"
    assert repr(secret) == f"SecretUrl({shown!r})" and repr([secret]) == f"[SecretUrl({shown!r})]"
    assert secret.get_secret_value() == url


def test_equality_and_hash_compare_the_real_url() -> None:
    assert SecretUrl(WECOM) == SecretUrl(WECOM) and hash(SecretUrl(WECOM)) == hash(SecretUrl(WECOM))
    other = SecretUrl(WECOM.replace(TOKEN, "another-token-0000"))
    assert str(other) == str(SecretUrl(WECOM)) and other != SecretUrl(WECOM)
    assert SecretUrl(WECOM) != WECOM  # a plain string is not the secret, as with SecretStr
    assert len({SecretUrl(WECOM), SecretUrl(WECOM), other}) == 2


def test_a_model_holds_it_and_dumps_it_masked() -> None:
    model = Holder.model_validate({"hook": WECOM})
    assert isinstance(model.hook, SecretUrl) and model.hook.get_secret_value() == WECOM
    assert json.loads(model.model_dump_json()) == {"hook": "https://qyapi.weixin.qq.com/***"}
    assert TOKEN not in json.dumps(model.model_dump(), default=str)
    assert TOKEN not in repr(model) and TOKEN not in str(model)
    assert Holder(hook=model.hook).hook is model.hook  # an instance is kept, not re-parsed
    assert Holder.model_validate_json(json.dumps({"hook": WECOM})).hook == model.hook


@pytest.mark.parametrize(
    ("value", "gist"),
    [
        ("ftp://x/y", "must be an http:// or https:// URL"),
        ("https:///cgi-bin/webhook/send?key=abc", "must be an http:// or https:// URL with a host"),
        ("qyapi.weixin.qq.com/send?key=abc", "must be an http:// or https:// URL"),
        ("http://h:99999/hook", "not a valid URL"),
        ("http://[fd00::1/hook", "not a valid URL"),
        (42, "valid string"),
    ],
)
def test_bad_values_are_refused_without_echoing_them(value: object, gist: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Holder.model_validate({"hook": value})
    assert len(caught.value.errors()) == 1 and gist in caught.value.errors()[0]["msg"]
    if isinstance(value, str):
        assert value not in caught.value.errors()[0]["msg"]


def test_secret_parts_let_the_redactor_mask_the_raw_url_and_its_pieces() -> None:
    secret = SecretUrl(f"https://bot:{TOKEN[:12]}@qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN}&x=1")
    redactor = Redactor()
    redactor.add(*secret.secret_parts())
    raw = secret.get_secret_value()
    for leak in (raw, f"POST /cgi-bin/webhook/send?key={TOKEN}&x=1", f"key={TOKEN}", TOKEN[:12]):
        assert TOKEN not in redactor.mask(f"oops: {leak} failed") and TOKEN[:12] not in redactor.mask(leak)
    assert SecretUrl("https://hooks.example.com/").secret_parts() == []  # nothing to hide, nothing garbled


def test_redact_shows_the_url_masked_in_a_library_message() -> None:
    secret = SecretUrl(WECOM)
    text = secret.redact(f"Server error '500 Internal Server Error' for url '{WECOM}' (key={TOKEN})")
    assert TOKEN not in text and "'https://qyapi.weixin.qq.com/***'" in text
