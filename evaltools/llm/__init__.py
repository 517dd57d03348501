"""The only place that talks to an LLM.

:class:`LLMClient` sends chat completions to any OpenAI-compatible endpoint
(``base_url``) with bounded concurrency, retries with per-attempt deadlines and
the content-addressed :class:`LLMCache` keyed by request and endpoint identity;
:class:`LLMCompleter` is its synchronous face for judges. :func:`local_server`
serves the bundled SmolLM2-135M-Instruct model through llama.cpp.
"""

from __future__ import annotations

from evaltools.llm._cache import (
    ChatRequest,
    Completion,
    LLMCache,
    cache_key,
    canonical_json,
)
from evaltools.llm._client import (
    LLMClient,
    LLMCompleter,
    UsageStats,
)
from evaltools.llm._server import (
    DEFAULT_PORT,
    MODEL_NAME,
    LocalServer,
    find_local_model,
    local_server,
    start_local_server,
)
from evaltools.llm._support import (
    normalize_base_url,
    redact,
    resolve_api_key,
    run_sync,
    sanitize_url,
)

__all__ = [
    "ChatRequest",
    "Completion",
    "LLMCache",
    "cache_key",
    "canonical_json",
    "LLMClient",
    "LLMCompleter",
    "UsageStats",
    "DEFAULT_PORT",
    "MODEL_NAME",
    "LocalServer",
    "find_local_model",
    "local_server",
    "start_local_server",
    "normalize_base_url",
    "redact",
    "resolve_api_key",
    "run_sync",
    "sanitize_url",
]
