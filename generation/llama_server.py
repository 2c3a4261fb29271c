"""llama.cpp's own `llama-server`: where its binary is and the command line that serves a GGUF for generation.

`make install-llama-server` builds the binary from the llama.cpp source bundled in the llama-cpp-python sdist on
PyPI (both MIT) into `<cache>/llama-server-<version>/llama-server`, where `<cache>` is `$ERC_SYNTH_CACHE` or
`~/.cache/erc-synth`. The server decodes its parallel slots together (continuous batching), enforces a JSON schema
given as `response_format` and honours a per-request `seed`, so `--backend openai` pointed at it is the fast CPU path.

Example:

```python
>>> from generation.llama_server import find_llama_server, llama_server_command
>>> command = llama_server_command(find_llama_server(), "model.gguf", port=8080, slots=8)
```
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from erc_synth_datasets.errors import ErcSynthError

from .default_model import cache_root

__all__ = ["DEFAULT_SLOT_CONTEXT", "LlamaServerMissingError", "find_llama_server", "llama_server_command"]

#: Environment variable that names a `llama-server` binary to use instead of the built one.
BINARY_ENV = "ERC_SYNTH_LLAMA_SERVER"
#: Context tokens per slot: a generation prompt (under 1,000 tokens) plus the default 1,536 new tokens, rounded up.
DEFAULT_SLOT_CONTEXT = 3072


class LlamaServerMissingError(ErcSynthError, FileNotFoundError):
    """No `llama-server` binary was found."""


def find_llama_server() -> Path:
    """The `llama-server` binary: `$ERC_SYNTH_LLAMA_SERVER`, else the newest one `make install-llama-server` built,
    else `llama-server` on the PATH.

    Raises:
        LlamaServerMissingError: None of them exists.
    """
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise LlamaServerMissingError(f"{BINARY_ENV}={configured!r} is not a file; point it at a llama-server.")
        return path
    built = sorted(cache_root().glob("llama-server-*/llama-server"), key=lambda p: p.stat().st_mtime)
    if built:
        return built[-1]
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    raise LlamaServerMissingError(
        f"llama-server was not found in {cache_root()}/llama-server-*/ nor on the PATH; run `make "
        f"install-llama-server` (builds it from source, about 10 minutes on 2 cores) or set {BINARY_ENV}."
    )


def llama_server_command(
    binary: Path,
    model: str | Path,
    *,
    port: int,
    slots: int = 8,
    slot_context: int = DEFAULT_SLOT_CONTEXT,
    threads: int | None = None,
    alias: str | None = None,
    host: str = "127.0.0.1",
) -> list[str]:
    """The command line that serves `model` with `slots` parallel slots (continuous batching) on `host:port`.

    Args:
        binary: The `llama-server` executable (`find_llama_server()`).
        model: The GGUF file.
        port: The TCP port.
        slots: Requests decoded together; the run's `max_in_flight` should equal it.
        slot_context: Context tokens of each slot (prompt plus new tokens); the server's context is
            `slots * slot_context`.
        threads: CPU threads for decoding and prompt processing (None: llama.cpp's default).
        alias: The model name the server reports and accepts (default: the file's name).
        host: The address to listen on.
    """
    if slots < 1:
        raise ValueError(f"Expected slots >= 1, but got slots={slots!r}.")
    command = [
        str(binary),
        "--model",
        str(model),
        "--host",
        host,
        "--port",
        str(port),
        "--parallel",
        str(slots),
        "--ctx-size",
        str(slots * slot_context),
        "--cont-batching",
    ]
    if alias:
        command += ["--alias", alias]
    if threads is not None:
        command += ["--threads", str(threads), "--threads-batch", str(threads)]
    return command
