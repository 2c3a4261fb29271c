"""The `openai` backend: request bodies, options, secrets, and generation through a real llama-cpp-python server."""

from __future__ import annotations

import json
import logging
import time

import pytest

from generation.backends import BackendError, GenerationRequest, SamplingParams, create_backend
from generation.backends.openai_backend import OpenAIBackend, _parse_retry_after, redact_url

try:
    from tests import servers
except ImportError:  # tests/ is not a package: its folder is on sys.path
    import servers

SECRET = "sk-test-0123456789-secret"
USER = [{"role": "user", "content": "Write one short sentence about rain."}]
DIALOGUE_SCHEMA = {
    "type": "object",
    "properties": {
        "lines": {
            "type": "array",
            "minItems": 1,
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "speaker": {"type": "string", "enum": ["Joey", "Monica"]},
                    # An enum, not minimum/maximum: llama.cpp's schema-to-grammar converter enforces enums only.
                    "emotion": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5, 6]},
                },
                "required": ["speaker", "emotion"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["lines"],
    "additionalProperties": False,
}


def loaded_backend(base_urls: list[str], model: str = "served-model", **options: object) -> OpenAIBackend:
    """A backend whose model is known without `load()` (for body-building tests)."""
    return OpenAIBackend(model=model, base_urls=base_urls, **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- no server needed


def test_registry_builds_the_backend_with_the_runner_signature():
    backend = create_backend(
        "openai", model="m", base_urls=["http://127.0.0.1:1/v1"], api_key="k", max_in_flight=3, timeout=5.0,
        max_retries=1,
    )  # fmt: skip
    assert isinstance(backend, OpenAIBackend)
    assert (backend.max_in_flight, backend.timeout, backend.max_retries) == (3, 5.0, 1)
    assert backend.model_name == "m"


def test_base_urls_are_normalised_and_split():
    backend = OpenAIBackend(base_urls="http://127.0.0.1:8000, http://10.0.0.2:8001/v1/ ,https://h/api/v1")
    assert backend.base_urls == ["http://127.0.0.1:8000/v1", "http://10.0.0.2:8001/v1", "https://h/api/v1"]
    assert OpenAIBackend().base_urls == ["http://127.0.0.1:8000/v1"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base_urls": ["127.0.0.1:8000"]}, "http"),
        ({"base_urls": []}, "at least one base URL"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"json_schema": "yes"}, "json_schema"),
        ({"json_schema_format": "grammar"}, "json_schema_format"),
        ({"seed_bits": 0}, "seed_bits"),
    ],
)
def test_invalid_options_name_the_option(options, match):
    with pytest.raises(ValueError, match=match):
        OpenAIBackend(**options)


def test_body_carries_seed_sampling_and_extra_fields():
    backend = loaded_backend(["http://127.0.0.1:1/v1"], extra_body={"min_p": 0.05})
    sampling = SamplingParams(
        temperature=0.7, top_p=0.95, top_k=100, typical_p=0.9, repetition_penalty=1.05, max_new_tokens=77
    )
    body = backend.build_body(GenerationRequest(messages=USER, seed=1234), sampling)
    assert body == {
        "model": "served-model",
        "messages": USER,
        "max_tokens": 77,
        "seed": 1234,
        "stream": False,
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": 100,
        "typical_p": 0.9,
        "repetition_penalty": 1.05,
        "repeat_penalty": 1.05,
        "min_p": 0.05,
    }
    # Run seeds are 63-bit; servers get them folded to 31 bits unless seed_bits=None.
    big = 2**62 + 2**31 + 7
    assert backend.build_body(GenerationRequest(messages=USER, seed=big), sampling)["seed"] == 7
    raw = loaded_backend(["http://127.0.0.1:1/v1"], seed_bits=None)
    assert raw.build_body(GenerationRequest(messages=USER, seed=big), sampling)["seed"] == big
    # Settings left at None stay out of the body, so the server's own defaults apply.
    body = backend.build_body(GenerationRequest(messages=USER, seed=0), SamplingParams(max_new_tokens=5))
    assert set(body) == {"model", "messages", "max_tokens", "seed", "stream", "min_p"}


def test_response_format_only_when_enforced():
    request = GenerationRequest(messages=USER, seed=0, json_schema=DIALOGUE_SCHEMA)
    off = loaded_backend(["http://127.0.0.1:1/v1"], json_schema="off")
    assert "response_format" not in off.build_body(request, SamplingParams())
    assert not off.supports_json_schema
    on = loaded_backend(["http://127.0.0.1:1/v1"], json_schema="on")
    assert on.supports_json_schema
    assert on.build_body(request, SamplingParams())["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": DIALOGUE_SCHEMA, "strict": True},
    }
    legacy = loaded_backend(["http://127.0.0.1:1/v1"], json_schema="on", json_schema_format="json_object")
    assert legacy.build_body(request, SamplingParams())["response_format"] == {
        "type": "json_object",
        "schema": DIALOGUE_SCHEMA,
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("3", 3.0), ("0.5", 0.5), ("-2", 0.0), ("soon", None), ("nan", None)],
)
def test_retry_after_seconds(header, expected):
    assert _parse_retry_after(header) == expected


def test_retry_after_http_date():
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= _parse_retry_after(future) <= 31


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after():
    backend = OpenAIBackend(backoff_base=1.0, backoff_max=10.0)
    for retry, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)]:
        waits = [backend._backoff(retry, None) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 100  # jittered, so retries of many requests do not bunch up
    assert backend._backoff(0, 7.0) == 7.0
    assert backend._backoff(0, 500.0) == 10.0  # a server's Retry-After is capped by backoff_max


def test_api_key_stays_out_of_repr_describe_and_errors(monkeypatch):
    monkeypatch.setenv("ERC_TEST_KEY", SECRET)
    backend = OpenAIBackend(base_urls=["http://127.0.0.1:1/v1"], api_key_env="ERC_TEST_KEY", max_retries=0)
    assert backend._headers()["Authorization"] == f"Bearer {SECRET}"
    described = json.dumps(backend.describe())
    assert SECRET not in described and SECRET not in repr(backend)
    assert backend.describe()["api_key_set"] is True
    with pytest.raises(BackendError) as err:
        backend.load()
    assert SECRET not in str(err.value)
    backend.close()
    backend = OpenAIBackend(base_urls=["http://user:pw-secret@127.0.0.1:1/v1"], api_key_env="UNSET_KEY", max_retries=0)
    described = json.dumps(backend.describe())
    assert "pw-secret" not in described and "***@127.0.0.1:1" in described and "pw-secret" not in repr(backend)
    with pytest.raises(BackendError) as err:
        backend.load()
    assert "pw-secret" not in str(err.value)
    backend.close()


def test_redact_url():
    assert redact_url("https://u:p@example.org:8443/v1") == "https://***@example.org:8443/v1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_no_server_at_all_is_a_backend_error_naming_the_urls():
    ports = [servers.find_free_port(), servers.find_free_port()]
    backend = OpenAIBackend(base_urls=[f"http://127.0.0.1:{p}/v1" for p in ports], timeout=2)
    with pytest.raises(BackendError, match="No OpenAI-compatible server answered") as err:
        backend.load()
    for port in ports:
        assert f"127.0.0.1:{port}" in str(err.value)
    backend.close()


def test_generate_before_load_is_a_backend_error():
    with pytest.raises(BackendError, match="before load"):
        loaded_backend(["http://127.0.0.1:1/v1"]).generate([GenerationRequest(USER, 0)], SamplingParams())


# ------------------------------------------------------------------------------------------ a real server

needs_server = pytest.mark.skipif(
    servers.llama_cpp_missing_reason() is not None, reason=str(servers.llama_cpp_missing_reason())
)


@pytest.fixture(scope="session")
def llama_server(request: pytest.FixtureRequest) -> servers.LlamaServer:
    """llama-cpp-python's server with SmolLM2, shared by every test module of the session."""
    return servers.shared_llama_server(request.config)


@needs_server
@pytest.mark.slow
def test_real_server_generates_with_usage_seed_and_sampling(llama_server, caplog):
    backend = OpenAIBackend(base_urls=[llama_server.base_url], api_key=SECRET, max_in_flight=2, json_schema="off")
    with caplog.at_level(logging.DEBUG):
        backend.load()
    assert backend.model_name == llama_server.model  # learnt from GET /models
    sampling = SamplingParams(temperature=1.0, top_p=0.99, top_k=200, typical_p=0.99, repetition_penalty=1.0,
                              max_new_tokens=12)  # fmt: skip
    requests = [GenerationRequest(USER, seed) for seed in (1, 2, 1)]
    results = backend.generate(requests, sampling)
    backend.close()
    assert [r.error for r in results] == [None, None, None]
    assert all(r.text.strip() for r in results)
    assert all(0 < r.completion_tokens <= 12 and r.prompt_tokens > 5 for r in results)
    assert results[0].text == results[2].text  # same seed, same sampling: same text
    assert results[0].extra["base_url"] == llama_server.base_url and results[0].extra["attempts"] == 1
    assert SECRET not in caplog.text


@needs_server
@pytest.mark.slow
def test_real_server_json_schema_probe_and_valid_output(llama_server):
    backend = OpenAIBackend(base_urls=[llama_server.base_url], max_in_flight=1, json_schema="auto")
    # Asked before load() (as a run does to choose its output format), the answer takes the probe, so it loads.
    assert backend.supports_json_schema
    backend.load()  # already loaded: nothing happens
    assert backend.json_schema_response_format in ("json_schema", "json_object")
    request = GenerationRequest(USER, seed=7, json_schema=DIALOGUE_SCHEMA)
    [result] = backend.generate([request], SamplingParams(temperature=1.0, max_new_tokens=64))
    backend.close()
    assert result.error is None, result.error
    value = json.loads(result.text)
    assert 1 <= len(value["lines"]) <= 2
    assert all(line["speaker"] in ("Joey", "Monica") and 0 <= line["emotion"] <= 6 for line in value["lines"])
    assert result.extra["response_format"] == backend.json_schema_response_format


@needs_server
@pytest.mark.slow
def test_round_robin_spreads_requests_over_several_urls(llama_server):
    with servers.FaultProxy(llama_server.origin) as first, servers.FaultProxy(llama_server.origin) as second:
        backend = OpenAIBackend(base_urls=[first.base_url, second.base_url], max_in_flight=2, json_schema="off")
        backend.load()
        results = backend.generate([GenerationRequest(USER, s) for s in range(4)], SamplingParams(max_new_tokens=4))
        backend.close()
    assert [r.error for r in results] == [None] * 4
    completions = [[p for p, _ in proxy.log if p.endswith("/chat/completions")] for proxy in (first, second)]
    assert [len(c) for c in completions] == [2, 2]
    assert sorted(r.extra["base_url"] for r in results) == sorted([first.base_url] * 2 + [second.base_url] * 2)
