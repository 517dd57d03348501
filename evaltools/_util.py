"""The few helpers every subpackage shares: exit codes, the version stamp, JSONL and atomic IO.

Every reader here raises :class:`~evaltools.errors.InputError` subclasses that
name the file and the 1-based line, so a user can open the file at the fault.
Writers never leave a half-written file behind: whole files are written to a
temporary sibling and moved into place with :func:`os.replace`; appends are
flushed and fsynced one line at a time.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaltools.errors import ConfigError, InputError

if TYPE_CHECKING:
    import numpy as np

    SeedLike = np.random.Generator | int | None
else:
    SeedLike = "np.random.Generator | int | None"
"""What every random function of evaltools accepts as ``rng``: a Generator, a non-negative int, or None."""

# The exit status of every ``evaltools`` command (one policy; see evaltools.cli).
EXIT_OK = 0
"""Success; for the gate, PASS."""
EXIT_ERROR = 2
"""The command could not do its job: bad usage, bad input, or a failure the message names."""
EXIT_REVIEW = 3
"""Done, and a human must look: gate NEEDS_REVIEW, golden-set findings, monitoring alerts (``--fail-on-alert``)."""
EXIT_BLOCK = 4
"""The gate found a regression: do not merge."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: finished work is kept; rerun the same command to resume."""


def evaltools_version() -> str:
    """The installed evaltools version, stamped into manifests, score tables and reports.

    ``importlib.metadata`` scans the installed distributions, so it is asked only
    when a stamp is written. A source tree that was never installed says
    ``0.0.0+unknown``.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("evaltools")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0+unknown"


def iter_jsonl(
    path: str | Path,
    *,
    error: type[InputError] = InputError,
    allow_empty: bool = False,
    allow_torn_tail: bool = False,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file.

    Args:
        path: the file to read.
        error: the :class:`InputError` subclass to raise.
        allow_empty: when False, a file with no records is an error.
        allow_torn_tail: when True, a last line without a trailing newline that
            is not valid JSON (a write torn by a crash) is skipped instead of
            raising. Append-only stores use this to recover.

    Yields:
        The 1-based line number and the decoded JSON object.

    A UTF-8 byte-order mark at the start is skipped; CRLF line endings are read
    like LF.

    Raises:
        InputError: (the ``error`` subclass) when the file is missing, not
            UTF-8, has CR-only (old Mac) line endings, a line is not JSON, a
            line is not an object, or the file is empty and ``allow_empty`` is False.
    """
    path = Path(path)
    if not path.exists():
        raise error("File not found.", path=path)
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        # A UTF-8 byte-order mark (Windows editors, Excel exports): not content.
        raw = raw[3:]
    if b"\n" not in raw and b"\r" in raw.strip():
        raise error(
            "The file has old Mac (CR-only) line endings, so it reads as one line. "
            "Re-save it with LF (or CRLF) line endings, e.g. `tr '\\r' '\\n' < old > new`.",
            path=path,
        )
    lines = raw.split(b"\n")
    torn_tail = not raw.endswith(b"\n")
    n_records = 0
    for number, blob in enumerate(lines, start=1):
        if not blob.strip():
            continue
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(
                f"The line is not valid UTF-8 (byte {exc.start} is {blob[exc.start:exc.start + 1]!r}). "
                "Re-save the file as UTF-8.",
                path=path,
                line=number,
            ) from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if allow_torn_tail and torn_tail and number == len(lines):
                return
            raise error(
                f"The line is not valid JSON ({exc.msg} at column {exc.colno}). "
                "Each line must hold one JSON object.",
                path=path,
                line=number,
            ) from None
        if not isinstance(obj, dict):
            raise error(
                f"Each line must hold a JSON object; got {type(obj).__name__} instead.",
                path=path,
                line=number,
            )
        n_records += 1
        yield number, obj
    if n_records == 0 and not allow_empty:
        raise error("The file has no records. Add at least one JSON object per line.", path=path)


def _umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never a part.

    The file gets the permissions of any newly created file (``0666`` less
    the umask, usually ``0644``), not the ``0600`` of a private temporary file:
    reports and tables are meant to be shared.

    Args:
        path: destination file; its folder is created when missing.
        text: the content, written as UTF-8.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write records as JSONL atomically (see :func:`atomic_write_text`).

    Args:
        path: destination file.
        records: JSON-serializable objects, one per line.
    """
    atomic_write_text(path, "".join(dumps_line(r) for r in records))


def dumps_line(record: dict[str, Any]) -> str:
    """Serialize one record as a JSONL line (UTF-8 text, NaN written as null).

    Args:
        record: a JSON-serializable mapping.

    Returns:
        The JSON text followed by a newline.

    Examples:
        >>> dumps_line({"a": 1, "b": float("nan")})
        '{"a": 1, "b": null}\\n'
    """
    return json.dumps(_nan_to_none(record), ensure_ascii=False, allow_nan=False) + "\n"


def append_line(path: str | Path, line: str) -> None:
    """Append one whole line durably, under an exclusive lock: flushed and fsynced before returning.

    One ``write`` of the whole line: a crash leaves either the line or a torn
    last line, which :func:`repair_torn_tail` mends before the next append.

    Args:
        path: the JSONL file (created when missing, with its folder).
        line: the text, ending with a newline.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        _locked(fh)
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _locked(fh: Any) -> Any:
    # Two writers appending to one file (two kernels of one annotator): serialize
    # the repair and the append (an flock; released when the file closes).
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return fh
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    return fh


def repair_torn_tail(path: str | Path, *, what: str = "record") -> str | None:
    """Repair an append-only JSONL file whose last line has no newline (a crash mid-write).

    A complete JSON object gets its newline (nothing finished is lost); any
    other fragment is appended to ``<file>.torn`` (fsynced) before it is cut
    from the file, so the next append starts on a line of its own. Run outputs
    and human labels both go through here.

    Args:
        path: the JSONL file (missing or empty: nothing to do).
        what: what one line holds, for the message ("label", "output").

    Returns:
        What was done, as a message for a warning, or None when the file was whole.
    """
    path = Path(path)
    if not path.exists():
        return None
    with open(path, "rb+") as fh:
        _locked(fh)
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return None
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return None
        pos, start = size, 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            cut = fh.read(step).rfind(b"\n")
            if cut >= 0:
                start = pos + cut + 1
                break
        fh.seek(start)
        fragment = fh.read()
        try:
            whole = isinstance(json.loads(fragment), dict)
        except ValueError:  # not JSON, or not UTF-8
            whole = False
        if whole:
            fh.seek(size)
            fh.write(b"\n")
            fh.flush()
            os.fsync(fh.fileno())
            return f"{path}: the last {what} had no newline; added one."
        torn = path.with_name(path.name + ".torn")
        with open(torn, "ab") as out:
            out.write(fragment + b"\n")
            out.flush()
            os.fsync(out.fileno())
        fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())
        line = fragment[:60].decode("utf-8", "replace")
        return (
            f"{path}: moved a torn last line (an interrupted write, {len(fragment)} bytes: {line!r}) to {torn}; "
            f"every complete {what} is kept."
        )


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def jsonschema_validators() -> Any:
    """``jsonschema.validators``, imported without compiling grammars no schema asked for.

    jsonschema registers its optional format checkers at import. One of them,
    ``iri``, comes from ``rfc3987-syntax`` (installed by ``jsonschema[format-nongpl]``,
    which Jupyter pulls in), and that package compiles a Lark grammar when imported:
    about 2 s, paid by every command that loads a golden set with a schema. Here
    jsonschema is handed a stand-in module whose ``is_valid_syntax`` imports the
    real package on its first call, so the grammar is compiled only when a value
    is actually checked against the ``iri`` format.

    Returns:
        The ``jsonschema.validators`` module.

    Examples:
        >>> jsonschema_validators().validator_for({}).__name__
        'Draft202012Validator'
    """
    import importlib.util
    import sys
    import types

    name = "rfc3987_syntax"
    if "jsonschema" not in sys.modules and name not in sys.modules and importlib.util.find_spec(name) is not None:

        def real() -> Any:
            if isinstance(sys.modules.get(name), _Deferred):
                del sys.modules[name]
            return importlib.import_module(name)

        class _Deferred(types.ModuleType):
            def __getattr__(self, attr: str) -> Any:
                if attr.startswith("__"):  # the import system probing (__path__...): not a reason to load
                    raise AttributeError(attr)
                return getattr(real(), attr)

        stand_in = _Deferred(name)
        stand_in.is_valid_syntax = lambda *a, **k: real().is_valid_syntax(*a, **k)  # type: ignore[attr-defined]
        sys.modules[name] = stand_in
        try:
            import jsonschema  # noqa: F401 - registers the format checkers against the stand-in
        finally:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]  # anyone importing it later gets the real package
    from jsonschema import validators

    return validators


def query_text(query: Any, *, style: str = "lines", include_system: bool = True) -> str:
    r"""A golden item's query (text, or chat messages) as one string, in one of three styles.

    Args:
        query: a string, a list of ``{"role", "content"}`` messages, or None.
        style: ``"lines"`` (``role: content`` lines, for people: reports and the
            explorer), ``"judge"`` (``[role] content`` lines: the judge prompt's
            format; changing it would change every cached verdict's key) or
            ``"content"`` (the contents only, for duplicate checks and embeddings).
        include_system: keep system messages (False: the user's side only).

    Returns:
        The text; an empty string for None; other objects as JSON.

    Examples:
        >>> chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        >>> query_text(chat)
        'system: Be brief.\nuser: Hi'
        >>> query_text(chat, style="judge")
        '[system] Be brief.\n[user] Hi'
        >>> query_text(chat, style="content", include_system=False)
        'Hi'
        >>> query_text("Hi", style="judge"), query_text(None)
        ('Hi', '')
    """
    if query is None:
        return ""
    if isinstance(query, str):
        return query
    if not isinstance(query, list):
        return json.dumps(query, ensure_ascii=False)
    messages = [m for m in query if include_system or not (isinstance(m, dict) and m.get("role") == "system")]
    if style == "lines":
        return "\n".join(
            f"{m.get('role', '?')}: {m.get('content', '')}" if isinstance(m, dict) else str(m) for m in messages
        )
    if style == "judge":
        return "\n".join(f"[{m.get('role', 'user')}] {m.get('content', '')}" for m in messages)
    if style == "content":
        return "\n".join(m.get("content", "") for m in messages)
    raise ConfigError(
        f"The 'style' parameter of query_text must be 'lines', 'judge' or 'content'. Got {style!r} instead."
    )


def id_problem(value: Any, field: str = "id") -> str | None:
    """What is wrong with an identifier read from a file (item, annotator, dimension), or None.

    Ids are compared exactly, so an empty one or one with leading or trailing
    whitespace (``" m-01"``, a CSV export's padding) would silently become a
    different item. Golden sets, imported outputs and labels all check here and
    raise their own error with the file, line and field.

    Examples:
        >>> id_problem("m-01") is None
        True
        >>> id_problem(" m-01")
        "'id' ' m-01' has leading or trailing whitespace; ids are matched exactly. Did you mean 'm-01'?"
        >>> id_problem("", "item_id")
        "'item_id' must be a non-empty string. Got '' instead."
    """
    if not isinstance(value, str) or not value.strip():
        return f"'{field}' must be a non-empty string. Got {value!r} instead."
    if value != value.strip():
        return (
            f"'{field}' {value!r} has leading or trailing whitespace; ids are matched exactly. "
            f"Did you mean {value.strip()!r}?"
        )
    return None


# --------------------------------------------------------------------------- argument checks
# Public functions validate once at the boundary (STYLE.md rule 4) with scikit-learn's message
# template; a bad argument is a ConfigError (an InputError, so a ValueError too).


def check_probability(value: Any, name: str, func: str, *, open_low: bool = True, open_high: bool = True) -> float:
    """Check that ``value`` is a float strictly (or not) inside (0, 1)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)
        ok = (v > 0 if open_low else v >= 0) and (v < 1 if open_high else v <= 1)
    if not ok:
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        raise ConfigError(f"The '{name}' parameter of {func} must be a float in {lo}, {hi}. Got {value!r} instead.")
    return float(value)


def check_positive(value: Any, name: str, func: str, *, allow_zero: bool = False) -> float:
    """Check that ``value`` is a finite float > 0 (or >= 0)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (float(value) >= 0 if allow_zero else float(value) > 0)
    if not ok:
        what = "a finite float >= 0" if allow_zero else "a finite float > 0"
        raise ConfigError(f"The '{name}' parameter of {func} must be {what}. Got {value!r} instead.")
    return float(value)


def check_int(value: Any, name: str, func: str, *, minimum: int) -> int:
    """Check that ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ConfigError(f"The '{name}' parameter of {func} must be an int >= {minimum}. Got {value!r} instead.")
    return int(value)


def check_choice(value: Any, name: str, func: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    options = tuple(choices)
    if value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ConfigError(f"The '{name}' parameter of {func} must be one of {listed}. Got {value!r} instead.")
    return str(value)


def resolve_seed(rng: SeedLike, func: str) -> int:
    """Turn ``rng`` into an integer seed that reproduces the computation.

    An int is used as is; ``None`` draws fresh OS entropy; a Generator is asked
    for one integer. The returned seed is recorded in results, so passing it
    back as ``rng=`` reproduces them exactly.
    """
    import numpy as np

    if rng is None:
        return int(np.random.SeedSequence().entropy % (2**63))  # type: ignore[operator]
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and int(rng) >= 0:
        return int(rng)
    raise ConfigError(
        f"The 'rng' parameter of {func} must be a numpy Generator, a non-negative int or None. Got {rng!r} instead."
    )
