"""Credentials reach the server the way the user gave them and nowhere else: a real HTTP server on 127.0.0.1 records
what it receives and echoes the request headers back in every encoding a careless server or proxy might (raw,
JSON, base64, percent-encoded); nothing of the API key or of the base URL's credentials may show in stderr, the
manifest or the rejection log."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import JsonHandler, LocalHTTPServer

from erc_synth.commands.generate import main as generate
from erc_synth_datasets.redaction import REDACTED, redact_text, secret_forms, url_secrets

USER, PASSWORD = "ops-user", "p@ss:w/rd-9f3Kq"
API_KEY = "sk-hardening-0123456789abcdef"


class EchoServer(LocalHTTPServer):
    """Lists one model, and answers every chat completion with HTTP 400 whose body echoes the request headers."""

    def __init__(self) -> None:
        super().__init__(_EchoHandler)
        self.received: list[str | None] = []

    def url(self, userinfo: str = "") -> str:
        return self.base_url.replace("http://", f"http://{userinfo}")


class _EchoHandler(JsonHandler):
    server: EchoServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.received.append(self.headers.get("Authorization"))
        self._send(200, json.dumps({"data": [{"id": "echo"}]}))

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        auth = self.headers.get("Authorization") or ""
        self.server.received.append(auth or None)
        scheme, _, token = auth.partition(" ")
        echoes = [
            f"auth={auth}",  # raw
            json.dumps({"headers": dict(self.headers)}),  # JSON
            f"token-b64={base64.b64encode(token.encode()).decode()}",  # the token base64-encoded again
            f"decoded={base64.b64decode(token + '==').decode(errors='replace') if scheme == 'Basic' else token}",
            f"quoted={quote(token, safe='')}",
        ]
        self._send(400, " | ".join(echoes))


def _argv(out: Path, url: str, key_env: str) -> list[str]:
    return [
        "--benchmark", "meld", "--backend", "openai", "--model", "echo", "--base-url", url, "--output-dir", str(out),
        "--num-dialogues", "2", "--max-attempts", "1", "--max-retries", "0", "--no-constrained", "--no-progress",
        "--api-key-env", key_env,
    ]  # fmt: skip


def _everything_written(out: Path, stderr: str) -> str:
    return stderr + "".join(path.read_text(encoding="utf-8") for path in sorted(out.iterdir()) if path.is_file())


def _leaked(text: str, secrets: list[str]) -> list[str]:
    return sorted({form for secret in secrets for form in secret_forms(secret) if form in text})


def test_url_credentials_are_sent_as_basic_auth_and_never_stored(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ERC_UNSET_KEY", raising=False)
    userinfo = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@"
    with EchoServer() as server:
        code = generate(_argv(tmp_path / "run", server.url(userinfo), "ERC_UNSET_KEY"))
        received = list(server.received)
    stderr = capsys.readouterr().err
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert received and set(received) == {expected}  # decoded from the URL, sent to every request, as given
    assert code in (0, 1)
    written = _everything_written(tmp_path / "run", stderr)
    assert "auth=Basic " + REDACTED in written  # the echo reached the rejection log, redacted
    assert not _leaked(written, [PASSWORD, f"{USER}:{PASSWORD}"])
    assert f"http://{REDACTED}@127.0.0.1" in written  # the manifest records that credentials were used


def test_an_api_key_is_sent_as_a_bearer_token_and_never_stored(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ERC_HARDENING_KEY", API_KEY)
    with EchoServer() as server:
        generate(_argv(tmp_path / "run", server.url(), "ERC_HARDENING_KEY"))
        received = list(server.received)
    stderr = capsys.readouterr().err
    assert received and set(received) == {f"Bearer {API_KEY}"}
    written = _everything_written(tmp_path / "run", stderr)
    assert "auth=Bearer " + REDACTED in written
    assert not _leaked(written, [API_KEY])


def test_url_credentials_with_an_api_key_are_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ERC_HARDENING_KEY", API_KEY)
    with EchoServer() as server:
        userinfo = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@"
        code = generate(_argv(tmp_path / "run", server.url(userinfo), "ERC_HARDENING_KEY"))
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "both would go in the one Authorization header" in err
        assert not _leaked(err, [API_KEY, PASSWORD])
        # Credentials not percent-encoded make no valid URL: refused, and no part of the password is shown.
        code = generate(_argv(tmp_path / "run", server.url(f"{USER}:{PASSWORD}@"), "ERC_UNSET_KEY"))
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "Expected an http(s) base URL" in err
        assert "rd-9f3Kq" not in err and "ss:w" not in err and "ops-user" not in err, err
        assert not server.received


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=4, max_size=40),
    context=st.sampled_from(["{}", "x{}y", "Basic {}", '{{"authorization": "{}"}}', "{} {}"]),
)
def test_every_encoded_form_of_a_known_secret_is_redacted(secret, context):
    for form in secret_forms(secret):
        text = redact_text(context.format(form, form), [secret])
        assert form not in text or form in context.replace("{}", ""), (form, text)


def test_url_secrets_are_the_password_and_the_pair():
    assert url_secrets(f"http://{USER}:{quote(PASSWORD, safe='')}@h/v1") == [PASSWORD, f"{USER}:{PASSWORD}"]
    assert url_secrets("http://h/v1") == []
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert redact_text(
        f"Authorization echoed: {basic}", url_secrets(f"http://{USER}:{quote(PASSWORD, safe='')}@h")
    ) == (f"Authorization echoed: {REDACTED}")


@pytest.mark.parametrize("url", ["ftp://h/v1", "not a url", "http://h:99999/v1", "http:///v1"])
def test_a_base_url_that_is_not_http_is_refused_in_one_line(tmp_path, capsys, url):
    assert generate(_argv(tmp_path / "run", url, "ERC_UNSET_KEY")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Expected an http(s) base URL" in err and "--base-url" in err
    assert not (tmp_path / "run").exists()
