"""Fault behaviour of the `openai` backend: a fault-injecting proxy in front of a real llama-cpp-python server.

The proxy answers 500/503, 429 with `Retry-After`, hangs (for timeouts) or drops the connection for the next N chat
completions, then forwards to the real server; the server itself is killed and restarted to test crashes.
"""

from __future__ import annotations

import logging

import pytest

from generation.backends import BackendError, GenerationRequest, SamplingParams
from generation.backends.openai_backend import OpenAIBackend

try:
    from tests import servers
except ImportError:  # tests/ is not a package: its folder is on sys.path
    import servers

pytestmark = servers.server_test_marks()

SECRET = "sk-fault-test-secret-0001"
USER = [{"role": "user", "content": "Name a colour."}]
TINY = SamplingParams(temperature=0.0, max_new_tokens=3)


@pytest.fixture(scope="session")
def llama_server(request: pytest.FixtureRequest) -> servers.LlamaServer:
    """llama-cpp-python's server with SmolLM2, shared by every test module of the session."""
    return servers.shared_llama_server(request.config)


@pytest.fixture
def proxy(llama_server):
    with servers.FaultProxy(llama_server.origin) as fault_proxy:
        yield fault_proxy


def backend_for(urls: list[str], **options) -> OpenAIBackend:
    options = {"max_in_flight": 1, "max_retries": 3, "backoff_base": 0.05, "json_schema": "off", **options}
    backend = OpenAIBackend(base_urls=urls, api_key=SECRET, **options)
    backend.load()
    return backend


def completions(proxy: servers.FaultProxy) -> list[str]:
    return [what for path, what in proxy.log if path.endswith("/chat/completions")]


@pytest.mark.parametrize(
    ("action", "options", "kind"),
    [
        ("status", {"status": 500}, "http_500"),
        ("status", {"status": 503}, "http_503"),
        ("drop", {}, "connection"),
        ("hang", {"seconds": 3.0}, "timeout"),
    ],
)
def test_transient_faults_are_retried_then_succeed(proxy, caplog, action, options, kind):
    backend = backend_for([proxy.base_url], timeout=1.0 if action == "hang" else 60.0)
    proxy.inject(action, times=2, **options)
    with caplog.at_level(logging.WARNING, logger="generation.backends.openai_backend"):
        [result] = backend.generate([GenerationRequest(USER, seed=1)], TINY)
    backend.close()
    assert result.error is None and result.text
    assert result.extra["attempts"] == 3
    assert result.extra["retried_after"] == [f"{kind}@{proxy.base_url}"] * 2
    assert completions(proxy)[-1] == "forwarded" and len(completions(proxy)) == 3
    assert caplog.text.count("retry") == 2 and SECRET not in caplog.text


def test_429_waits_at_least_retry_after(proxy):
    backend = backend_for([proxy.base_url], backoff_base=0.01)
    proxy.inject("status", status=429, retry_after="2")
    [result] = backend.generate([GenerationRequest(USER, seed=1)], TINY)
    backend.close()
    assert result.error is None and result.extra["retried_after"] == [f"http_429@{proxy.base_url}"]
    # Without Retry-After the backoff would be about 0.01 s; the server asked for 2 s.
    first, second = proxy.arrivals[-2:]
    assert second - first >= 1.9


def test_exhausted_retries_become_a_per_request_error(proxy):
    backend = backend_for([proxy.base_url], max_retries=2, max_in_flight=1)
    proxy.inject("status", times=3, status=503)
    # One at a time: the first request takes the three 503s, the second is served; the batch mixes both.
    results = backend.generate([GenerationRequest(USER, seed=1), GenerationRequest(USER, seed=2)], TINY)
    backend.close()
    failed = [r for r in results if r.error is not None]
    served = [r for r in results if r.error is None]
    assert len(failed) == 1 and len(served) == 1 and served[0].text
    assert "HTTP 503" in failed[0].error and "after 3 attempts" in failed[0].error
    assert failed[0].extra["error_kind"] == "http_503" and failed[0].text == ""
    assert SECRET not in failed[0].error


def test_client_errors_are_not_retried(proxy):
    backend = backend_for([proxy.base_url])
    proxy.inject("status", status=400)
    [result] = backend.generate([GenerationRequest(USER, seed=1)], TINY)
    backend.close()
    assert result.extra["error_kind"] == "http_400" and "HTTP 400" in result.error
    assert completions(proxy) == ["status 400"]


def test_a_dead_url_among_several_is_skipped_by_retries(proxy):
    dead = f"http://127.0.0.1:{servers.find_free_port()}/v1"
    backend = backend_for([dead, proxy.base_url], max_in_flight=2)
    results = backend.generate([GenerationRequest(USER, seed=s) for s in range(4)], TINY)
    backend.close()
    assert all(r.error is None and r.text for r in results)
    assert all(r.extra["base_url"] == proxy.base_url for r in results)
    assert sum(r.extra["attempts"] for r in results) >= 5  # at least one request met the dead URL first


def test_killed_server_is_a_clear_backend_error_and_a_restart_serves_again(tmp_path):
    server = servers.LlamaServer(log_path=tmp_path / "server.log").start()
    try:
        backend = OpenAIBackend(
            base_urls=[server.base_url], api_key=SECRET, max_retries=1, backoff_base=0.05, json_schema="off"
        )
        backend.load()
        [before] = backend.generate([GenerationRequest(USER, seed=1)], TINY)
        assert before.error is None and before.text
        server.stop(kill=True)
        with pytest.raises(BackendError) as err:
            backend.generate([GenerationRequest(USER, seed=s) for s in range(3)], TINY)
        message = str(err.value)
        assert server.base_url in message and "No server answered at" in message and SECRET not in message
        server.start()  # same port: the client reconnects without being rebuilt
        [after] = backend.generate([GenerationRequest(USER, seed=1)], TINY)
        backend.close()
        assert after.error is None and after.text == before.text  # same seed, temperature 0: same text
    finally:
        server.stop()


def test_a_hung_server_is_a_backend_error_that_names_the_timeout(proxy):
    backend = backend_for([proxy.base_url], timeout=0.5, max_retries=1)
    proxy.inject("hang", times=2, seconds=2.0)
    with pytest.raises(BackendError, match="raise the timeout") as err:
        backend.generate([GenerationRequest(USER, seed=1)], TINY)
    backend.close()
    assert proxy.base_url in str(err.value) and SECRET not in str(err.value)
    assert completions(proxy) == ["hang", "hang"]


def test_the_same_refusal_for_every_request_is_a_backend_error(proxy, llama_server):
    backend = backend_for([proxy.base_url], max_in_flight=2)
    proxy.inject("status", times=2, status=404)
    with pytest.raises(BackendError, match="Every request was refused") as err:
        backend.generate([GenerationRequest(USER, seed=1), GenerationRequest(USER, seed=2)], TINY)
    backend.close()
    message = str(err.value)
    assert "HTTP 404" in message and llama_server.model in message and SECRET not in message
    assert completions(proxy) == ["status 404", "status 404"]  # not retried


def test_a_refused_api_key_is_a_backend_error_at_load(llama_server):
    with servers.FaultProxy(llama_server.origin, fault_paths=("/v1/models",)) as proxy:
        proxy.inject("status", status=401)
        backend = OpenAIBackend(base_urls=[proxy.base_url], api_key=SECRET, json_schema="off")
        with pytest.raises(BackendError, match="refused the API key") as err:
            backend.load()
        backend.close()
    assert "OPENAI_API_KEY" in str(err.value) and SECRET not in str(err.value)
