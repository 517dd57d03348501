"""Generating a run: a variant's outputs on a golden set, through :mod:`evaltools.llm._client`.

:func:`generate` appends one line per finished item to ``runs/<run_id>/outputs.jsonl``
(each fsynced) and resumes an interrupted run: items already recorded are skipped,
and a line torn by a crash is cut off. Completions are cached, so an unchanged
rerun makes zero LLM calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaltools._util import atomic_write_text, dumps_line, evaltools_version, repair_torn_tail
from evaltools.errors import ConfigError, RunError, VersionMismatchError
from evaltools.golden import GoldenSet
from evaltools.llm import Completion, LLMClient, canonical_json, normalize_base_url, run_sync, sanitize_url
from evaltools.runs._store import (
    Run,
    RunLock,
    _as_golden,
    _check_run_id,
    _now,
    _read_outputs,
    _summarize,
    _write_manifest,
    load_run,
)
from evaltools.runs._variant import Variant

__all__ = ["agenerate", "default_run_id", "generate", "session_line"]

log = logging.getLogger(__name__)


def default_run_id(variant: Variant, golden: GoldenSet, endpoint: str | None = None) -> str:
    """A run id that names the set and variant and changes when either, or the endpoint, changes.

    Rerunning the same variant on the same golden set version against the same
    endpoint resumes (and, when finished, re-finds) the same run; editing the
    prompt or the set, or pointing at another endpoint, starts a new one.

    Args:
        variant: the variant.
        golden: the golden set.
        endpoint: the endpoint's base URL (normalized here); :func:`generate`
            always passes it. None leaves it out (ids made before it counted).

    Returns:
        ``<golden name>-<variant name>-<8 hex digits>``.

    Examples:
        >>> from evaltools.golden import load_golden
        >>> gs = load_golden("tests/fixtures/golden_tiny", warn=False)
        >>> v = Variant.from_card(gs, "terse")
        >>> default_run_id(v, gs, "http://a:1/v1") == default_run_id(v, gs, "HTTP://a:1/v1/")
        True
        >>> default_run_id(v, gs, "http://a:1/v1") == default_run_id(v, gs, "http://a:2/v1")
        False
    """
    parts: list[Any] = [golden.version, variant.to_dict()]
    if endpoint is not None:
        parts.append(normalize_base_url(endpoint))
    digest = hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:8]
    return f"{golden.name}-{variant.name}-{digest}"


def _old_endpoint(old: Mapping[str, Any]) -> str | None:
    # Runs made before the identity was recorded have only their base_url.
    endpoint = old.get("endpoint")
    if isinstance(endpoint, Mapping) and isinstance(endpoint.get("endpoint"), str):
        return str(endpoint["endpoint"])
    url = old.get("base_url")
    return normalize_base_url(url) if isinstance(url, str) and url else None


_USAGE_KEYS = (
    "wall_s",
    "requests",
    "cache_hits",
    "calls",
    "retries",
    "prompt_tokens",
    "completion_tokens",
    "generation_s",
)


def _usage_of_lines(records: list[dict[str, Any]], session: int, wall_s: float) -> dict[str, float]:
    """The usage of a session that died before writing it, from the lines it appended."""
    mine = [r for r in records if r.get("session") == session]
    live = [r for r in mine if not r.get("cached")]
    return {
        "wall_s": wall_s,
        "requests": len(mine),
        "cache_hits": len(mine) - len(live),
        "calls": sum(int(r.get("attempts") or 0) for r in live),
        "retries": sum(max(0, int(r.get("attempts") or 0) - 1) for r in live),
        "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in live if not r.get("error")),
        "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in live if not r.get("error")),
        "generation_s": sum(float(r.get("latency_s") or 0.0) for r in live if not r.get("error")),
    }


def _add_usage(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in _USAGE_KEYS:
        total = float(a.get(k) or 0) + float(b.get(k) or 0)
        out[k] = round(total, 3) if k.endswith("_s") else int(round(total))
    return out


def _open_run(
    run_dir: Path, golden: GoldenSet, variant: Variant, retry_errors: bool, client: LLMClient
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, float]]:
    """Check an existing run folder can be resumed; return its manifest, kept records and usage so far.

    The caller holds the run's lock: this may cut a torn line and rewrite the file.
    """
    manifest_path, outputs_path = run_dir / "manifest.json", run_dir / "outputs.jsonl"
    if not run_dir.exists():
        return None, [], {}
    if not manifest_path.exists():
        if outputs_path.exists():
            raise RunError(
                "The run folder has outputs but no manifest.json; it cannot be resumed safely. "
                "Pass another run_id or delete the folder.",
                path=run_dir,
            )
        return None, [], {}
    old = load_run(run_dir).manifest
    if old.get("source") != "generated":
        raise RunError(
            f"Run {old['run_id']!r} was {old.get('source')}, not generated; pass another run_id.", path=run_dir
        )
    if old["golden_version"] != golden.version:
        raise VersionMismatchError(
            f"Run {old['run_id']!r} was made against golden set version {old['golden_version']}, "
            f"but {golden.name!r} is now version {golden.version}. Pass a new run_id to start a new run.",
            path=manifest_path,
            field="golden_version",
        )
    if canonical_json(old.get("variant")) != canonical_json(variant.to_dict()):
        was = old.get("variant") or {}
        now = variant.to_dict()
        diff = sorted(k for k in set(was) | set(now) if canonical_json(was.get(k)) != canonical_json(now.get(k)))
        raise RunError(
            f"Run {old['run_id']!r} was made with a different variant ({', '.join(diff)} differ). "
            "Pass a new run_id to run this variant, or use the variant the run was made with.",
            path=manifest_path,
            field="variant",
        )
    was = _old_endpoint(old)
    if was is not None and not client.offline and was != client.endpoint:
        served = (old.get("endpoint") or {}).get("served_model")
        raise RunError(
            f"Run {old['run_id']!r} was made against {was}"
            f"{f' (served model {served!r})' if served else ''}, but this call points at {client.endpoint}. "
            "A run holds one endpoint's outputs: pass a new run_id (without --run-id the default one names "
            f"the endpoint), or point base_url back at {was}.",
            path=manifest_path,
            field="base_url",
        )
    repaired = repair_torn_tail(outputs_path, what="output")
    if repaired:
        log.warning("%s (the previous run was killed mid-write)", repaired)
    records = [r for _, r in _read_outputs(outputs_path)]
    unknown = sorted({r["id"] for r in records} - set(golden.ids))
    if unknown:
        raise RunError(f"Outputs for ids not in the golden set: {unknown[:5]}.", path=outputs_path, field="id")
    usage = dict(old.get("usage") or {})
    if old.get("status") == "running":
        # The last session died without writing its usage (SIGKILL, power loss):
        # count it from the lines it appended, which are durable.
        started = old.get("session_started_unix")
        wall = max(0.0, outputs_path.stat().st_mtime - float(started)) if started and outputs_path.exists() else 0.0
        usage = _add_usage(usage, _usage_of_lines(records, int(old.get("sessions") or 0), wall))
    if retry_errors and any(r.get("error") for r in records):
        # Failed items are asked again: drop their lines first (atomically), so the
        # file keeps one line per item.
        records = [r for r in records if not r.get("error")]
        atomic_write_text(outputs_path, "".join(dumps_line(r) for r in records))
    return old, records, usage


class _LineWriter:
    """Appends JSONL lines on a writer thread: every line queued so far in one write(2), then one fsync.

    An fsync takes milliseconds on a busy disk; done on the event loop it would
    stall every request in flight, and one per line made a 64-way run wait on the
    disk. Each line is whole in its write (a write(2) that returned survives a
    killed process; the fsync covers a power cut), and lines are written as soon
    as the thread wakes. A line queued but not yet written when the process dies
    is not lost either: its completion is already in the cache.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="evaltools-outputs", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            stop = batch[-1] is None
            data = b"".join(b for b in batch if b is not None)
            if self._error is not None or not data:
                continue
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError as exc:  # disk full, I/O error: reported by the next write()
                self._error = exc

    def write(self, record: dict[str, Any]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(dumps_line(record).encode("utf-8"))

    def close(self) -> None:
        """Write every queued line, then close; raises a write error that happened."""
        self._queue.put(None)
        self._thread.join()
        os.close(self._fd)
        if self._error is not None:
            raise self._error


_SESSION_FIELDS = ("wall_s", "requests", "cache_hits", "calls", "retries", "prompt_tokens", "completion_tokens",
                   "generation_s")  # fmt: skip
"""What one :func:`generate` call did (``Run.session``); summed over calls in the manifest's ``usage``."""


def _record(item_id: str, c: Completion, session: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "output": c.output,
        "latency_s": None if c.latency_s is None else round(c.latency_s, 4),
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "finish_reason": c.finish_reason,
        "error": c.error,
        "cached": c.cached,
        "attempts": c.attempts,
        "session": session,
    }


async def agenerate(
    variant: Variant,
    golden: GoldenSet | str | Path,
    *,
    base_url: str | None = None,
    run_id: str | None = None,
    runs_dir: str | Path = "runs",
    concurrency: int = 8,
    cache: str | Path | bool = True,
    progress: bool = True,
    client: LLMClient | None = None,
    retry_errors: bool = True,
    api_key_env: str | None = "OPENAI_API_KEY",
    env_file: str | Path | None = None,
    timeout_s: float = 120.0,
    max_retries: int = 4,
    item_timeout_s: float | None = None,
    endpoint: str | None = None,
) -> Run:
    """Async :func:`generate` (same arguments), for code already inside an event loop."""
    gs = _as_golden(golden)
    if not isinstance(variant, Variant):
        raise ConfigError(f"The 'variant' parameter of generate must be a Variant. Got {type(variant).__name__}.")
    if run_id is not None:
        _check_run_id(run_id)
    own_client = client is None
    if client is None:
        cache_arg = Path(runs_dir) / "llm_cache.sqlite" if cache is True else (cache or None)
        client = LLMClient(
            base_url,
            api_key_env=api_key_env,
            env_file=env_file,
            cache=cache_arg,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            item_timeout_s=item_timeout_s,
            endpoint=endpoint,
        )
    try:
        run_id = run_id if run_id is not None else default_run_id(variant, gs, client.endpoint)
        run_dir = Path(runs_dir) / run_id
        with RunLock(run_dir):
            return await _generate_locked(variant, gs, run_id, run_dir, client, progress, retry_errors)
    finally:
        if own_client:
            await client.aclose()
            if client.cache is not None:
                client.cache.close()


async def _generate_locked(
    variant: Variant,
    gs: GoldenSet,
    run_id: str,
    run_dir: Path,
    client: LLMClient,
    progress: bool,
    retry_errors: bool,
) -> Run:
    old, kept, usage_before = _open_run(run_dir, gs, variant, retry_errors, client)
    done = {r["id"] for r in kept}
    todo = [item for item in gs.items if item["id"] not in done]
    if old is not None and not todo and old.get("status") == "complete":
        # Finished already: nothing to call, nothing to rewrite.
        idle = dict.fromkeys(_SESSION_FIELDS, 0)
        return replace(load_run(run_dir), session={**idle, "resumed": len(kept), "wall_s": 0.0})

    session_no = int(old.get("sessions", 0)) + 1 if old else 1
    old_endpoint = (old or {}).get("endpoint") or {}
    endpoint: dict[str, Any] = {
        **client.identity(variant.model),
        "answer_models": list(old_endpoint.get("answer_models") or []),
        "system_fingerprints": list(old_endpoint.get("system_fingerprints") or []),
    }
    endpoint.pop("system_fingerprint", None)
    was_served = old_endpoint.get("served_model")
    if was_served is not None and endpoint["served_model"] is not None and was_served != endpoint["served_model"]:
        raise RunError(
            f"Run {run_id!r} was made with the model {was_served!r} served at {endpoint['endpoint']}, but the "
            f"endpoint now serves {endpoint['served_model']!r} ({endpoint['served_model_source']}). A run holds one "
            "model's outputs: pass a new run_id to run against this model.",
            path=run_dir / "manifest.json",
            field="endpoint",
        )
    if endpoint["served_model"] is None:
        endpoint["served_model"] = was_served
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "golden_name": gs.name,
        "golden_version": gs.version,
        "variant": variant.to_dict(),
        "evaltools_version": evaltools_version(),
        "created_at": old["created_at"] if old else _now(),
        "finished_at": None,
        "status": "running",
        "n_items": len(gs.items),
        "base_url": sanitize_url(client.base_url),
        "endpoint": endpoint,
        "source": "generated",
        "cache": str(client.cache.path) if client.cache is not None else None,
        "sessions": session_no,
        "session_started_unix": round(time.time(), 3),
        # Usage so far: a session that is killed before it writes its own still
        # leaves this, and its lines, for the next one to add up.
        "usage": _add_usage(usage_before, {}),
    }
    _write_manifest(run_dir, manifest)

    records = list(kept)
    writer = _LineWriter(run_dir / "outputs.jsonl")
    from tqdm.auto import tqdm

    bar = tqdm(total=len(gs.items), initial=len(done), desc=run_id, unit="item", disable=not progress)
    counts = Counter(errors=sum(1 for r in kept if r.get("error")), cached=sum(1 for r in kept if r.get("cached")))
    bar.set_postfix(errors=counts["errors"], cached=counts["cached"], refresh=False)
    stats_before = client.stats
    started = time.perf_counter()

    def check_identity(completion: Completion) -> None:
        # Each answer's body says which model made it (cache hits keep the original
        # answer's): a run mixes no two.
        served, fingerprint = completion.served_model, completion.system_fingerprint
        if served is not None:
            models = endpoint["answer_models"]
            if not models:
                models.append(served)
                _write_manifest(run_dir, manifest)
            elif served not in models:
                raise RunError(
                    f"Run {run_id!r} was made with the model {models[0]!r} served at "
                    f"{endpoint['endpoint']}, but the endpoint now serves {served!r}. A run holds one model's "
                    "outputs: pass a new run_id to run against this model.",
                    path=run_dir / "manifest.json",
                    field="endpoint",
                )
        if fingerprint is not None and fingerprint not in endpoint["system_fingerprints"]:
            if endpoint["system_fingerprints"]:
                log.warning(
                    "Run %s: the endpoint's system_fingerprint changed (%s -> %s): its backend configuration "
                    "changed during the run.",
                    run_id,
                    endpoint["system_fingerprints"][-1],
                    fingerprint,
                )
            endpoint["system_fingerprints"].append(fingerprint)

    def on_result(i: int, completion: Completion) -> None:
        if completion.ok:
            check_identity(completion)
        record = _record(todo[i]["id"], completion, session_no)
        writer.write(record)
        records.append(record)
        if not completion.ok or completion.cached:  # the postfix only changes then
            counts["errors"] += 0 if completion.ok else 1
            counts["cached"] += int(completion.cached)
            bar.set_postfix(errors=counts["errors"], cached=counts["cached"], refresh=False)
        bar.update(1)

    status = "interrupted"
    try:
        requests = [
            variant.request(
                item["query"],
                schema=gs.schemas.get(item["schema"]) if item.get("schema") else None,
                schema_name=Path(str(item.get("schema") or "output")).name.split(".")[0],
            )
            for item in todo
        ]
        await client.acomplete_many(requests, on_result=on_result)
        status = "complete"
    finally:
        bar.close()
        writer.close()
        recorded = {r["id"] for r in records}
        missing = tuple(i for i in gs.ids if i not in recorded)
        stats = client.stats
        summary = _summarize(run_id, len(gs.items), records, missing)
        session = {
            "wall_s": time.perf_counter() - started,
            "requests": stats.requests - stats_before.requests,
            "cache_hits": stats.cache_hits - stats_before.cache_hits,
            "calls": stats.calls - stats_before.calls,
            "retries": stats.retries - stats_before.retries,
            "prompt_tokens": stats.prompt_tokens - stats_before.prompt_tokens,
            "completion_tokens": stats.completion_tokens - stats_before.completion_tokens,
            "generation_s": stats.latency_s - stats_before.latency_s,
        }
        # Usage adds up over the sessions that made the run (a resumed run has several).
        manifest.update(
            status=status,
            finished_at=_now() if status == "complete" else None,
            summary=summary.to_dict(),
            usage=_add_usage(usage_before, session),
            last_session_usage=_add_usage(session, {}),
        )
        _write_manifest(run_dir, manifest)
    return replace(load_run(run_dir), session={**session, "resumed": len(kept)})


def generate(
    variant: Variant,
    golden: GoldenSet | str | Path,
    *,
    base_url: str | None = None,
    run_id: str | None = None,
    runs_dir: str | Path = "runs",
    concurrency: int = 8,
    cache: str | Path | bool = True,
    progress: bool = True,
    client: LLMClient | None = None,
    retry_errors: bool = True,
    api_key_env: str | None = "OPENAI_API_KEY",
    env_file: str | Path | None = None,
    timeout_s: float = 120.0,
    max_retries: int = 4,
    item_timeout_s: float | None = None,
    endpoint: str | None = None,
) -> Run:
    """Generate a variant's outputs on a golden set into ``runs/<run_id>/``, resuming if started.

    Each finished item is appended to ``outputs.jsonl`` (fsynced) as it completes,
    so a crash loses at most the items in flight, and those come back from the
    cache. An item that still fails after retries is recorded with its error and
    the run goes on; with ``retry_errors`` a later call asks for it again. Works
    inside a running event loop (Jupyter).

    Args:
        variant: what to run.
        golden: the golden set (or its folder).
        base_url: the OpenAI-compatible endpoint (see :class:`~evaltools.llm.LLMClient`).
        run_id: the run's name; by default ``<set>-<variant>-<hash>``, which changes
            when the set's version or the variant changes.
        runs_dir: the run store.
        concurrency: the most requests in flight.
        cache: True for ``<runs_dir>/llm_cache.sqlite``, a path, or False for none.
        progress: show a progress bar (items done, errors, cache hits).
        client: an :class:`~evaltools.llm.LLMClient` to use instead of making one
            (then ``base_url``, ``concurrency``, ``cache`` and the key and retry
            settings are the client's).
        retry_errors: when resuming, ask again for items recorded with an error.
        api_key_env: the environment variable holding the API key.
        env_file: a ``.env`` file to read the key from.
        timeout_s: wall-clock seconds one HTTP attempt may take, to the last byte.
        max_retries: retries per item on 429, 5xx, timeouts and connection errors.
        item_timeout_s: wall-clock seconds one item may take over all its attempts
            and backoffs; None bounds it by ``timeout_s`` per attempt only.
        endpoint: the endpoint's identity (default: the normalized base URL); see
            :class:`~evaltools.llm.LLMClient`. The default run id, the cache and
            the manifest use it, and a run is never resumed against another.

    Returns:
        The :class:`Run`; ``run.summary`` counts ok items, errors by reason and cache hits.

    Raises:
        VersionMismatchError: ``run_id`` exists and was made against another
            version of the golden set.
        RunError: ``run_id`` exists and was made with a different variant or
            against another endpoint (base URL or served model), or was imported.
        RunLockedError: another live process is writing ``run_id`` (the message
            names its pid).
        ConfigError: a bad run id, variant or client setting.
    """
    return run_sync(
        agenerate(
            variant,
            golden,
            base_url=base_url,
            run_id=run_id,
            runs_dir=runs_dir,
            concurrency=concurrency,
            cache=cache,
            progress=progress,
            client=client,
            retry_errors=retry_errors,
            api_key_env=api_key_env,
            env_file=env_file,
            timeout_s=timeout_s,
            max_retries=max_retries,
            item_timeout_s=item_timeout_s,
            endpoint=endpoint,
        )
    )


def session_line(session: dict[str, Any]) -> str:
    """What this invocation did, in words: requests actually sent, cache hits, items resumed.

    Args:
        session: a :attr:`Run.session` dict.

    Returns:
        One line; a rerun of a finished run says it sent nothing.

    Examples:
        >>> session_line({"calls": 0, "retries": 0, "cache_hits": 0, "resumed": 250, "wall_s": 0.0})
        'this invocation sent 0 requests: the run was already complete (250 items recorded)'
        >>> session_line({"calls": 12, "retries": 2, "cache_hits": 238, "completion_tokens": 90, "wall_s": 1.25})
        'this invocation sent 12 requests (2 retries), 238 answered from the cache, 90 completion tokens, 1.2 s'
    """
    calls, hits = int(session.get("calls", 0)), int(session.get("cache_hits", 0))
    resumed = int(session.get("resumed", 0))
    if calls == 0 and hits == 0 and int(session.get("requests", 0)) == 0:
        return f"this invocation sent 0 requests: the run was already complete ({resumed} items recorded)"
    retries = int(session.get("retries", 0))
    sent = f"this invocation sent {calls} request{'s' if calls != 1 else ''}"
    parts = [sent + (f" ({retries} retries)" if retries else "")]
    parts.append(f"{hits} answered from the cache")
    if resumed:
        parts.append(f"{resumed} items kept from earlier sessions")
    parts.append(f"{int(session.get('completion_tokens', 0))} completion tokens")
    parts.append(f"{float(session.get('wall_s', 0.0)):.1f} s")
    return ", ".join(parts)
