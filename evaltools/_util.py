"""The few helpers every subpackage shares: exit codes, the version stamp, JSONL and atomic IO.

Every reader here raises :class:`~evaltools.errors.InputError` subclasses that
name the file and the 1-based line, so a user can open the file at the fault.
Writers never leave a half-written file behind: whole files are written to a
temporary sibling and moved into place with :func:`os.replace`; appends are
flushed and fsynced one line at a time.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evaltools.errors import InputError

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


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record durably: the line is flushed and fsynced before returning.

    Args:
        path: the JSONL file (created when missing).
        record: a JSON-serializable mapping.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(dumps_line(record))
        fh.flush()
        os.fsync(fh.fileno())


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
