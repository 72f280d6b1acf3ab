"""Repeated JSON keys: `{"count": 1, "count": 5}`.

DuckDB's JSON reader keeps the FIRST of two equal keys in an object; Python's json, JavaScript and the official
SDK keep the LAST. poolscope reads a pool the way the SDK does. Finding a repeat costs a full parse, which the
normalizer cannot pay for every document (its SQL reads 200,000 pools in seconds), so the work is split:

- `has_repeated_keys(body)` runs once per pool body as it is landed (pipeline/land/landing.py), at C speed
  (json's own scanner, ~1.6 ms for a page of 200 pools), and its answer goes into the call log;
- `last_wins(body)` runs in the normalizer on the flagged bodies only (normally none): it rewrites the body
  with one value per key, the last, and names the repeated keys of each document, for a warning row.

A body that cannot be parsed here (bad JSON, nesting deeper than Python's recursion limit) is answered `None`
("not checked"): the normalizer reads it as it is and says so in a warning row. Bytes that are not UTF-8 are
carried through (surrogateescape), so the normalizer still rejects the one document that holds them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# A spilled body larger than this is not checked at landing: Python objects take 10-20x the JSON text.
CHECK_MAX_BYTES = 8 * 1024 * 1024

_MARK = "\x00poolscope.repeated"  # recognised by its value's type (_Repeated), never by its name alone


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")


def has_repeated_keys(body: bytes) -> bool | None:
    """True when some object of the JSON text repeats a key; None when the text cannot be parsed here."""
    pairs: list[list] = []
    try:
        json.loads(_text(body), object_pairs_hook=pairs.append)  # nested objects become None: only counted
    except (ValueError, RecursionError):
        return None
    return sum(map(len, pairs)) != sum(map(len, map(dict, pairs)))


class _Repeated(list):
    """The repeated key names of one object, stored under _MARK in that object while the body is walked."""


def _hook(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        obj[_MARK] = _Repeated(sorted({k for k, _ in pairs if k in seen or seen.add(k)}))
    return obj


def _pop(value: object, found: set[str]) -> None:
    """Remove every marker below `value` (objects and arrays), adding the names it holds to `found`."""
    todo = [value]
    while todo:  # no recursion: json.loads already bounded the depth
        v = todo.pop()
        if isinstance(v, dict):
            mark = v.get(_MARK)
            if isinstance(mark, _Repeated):
                found.update(mark)
                del v[_MARK]
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)


@dataclass(frozen=True)
class RepeatedIn:
    """One document that repeated keys: its index in `items` (None for a show_pool body), its metadata.name
    when that is a string, and the repeated key names (at any depth of the document)."""

    item_index: int | None
    pool_id: str | None
    keys: tuple[str, ...]


def last_wins(body: bytes, *, list_body: bool) -> tuple[bytes, list[RepeatedIn]] | None:
    """`body` rewritten with the last value of every repeated key, and the documents that had one; None when
    the body cannot be parsed here. Numbers that are not integers are kept as their text (a string): json
    would turn 1e99999 into Infinity, which no JSON reader accepts back."""
    try:
        doc = json.loads(_text(body), object_pairs_hook=_hook, parse_float=str, parse_constant=str)
    except (ValueError, RecursionError):
        return None
    items = doc.get("items") if list_body and isinstance(doc, dict) else None
    docs = list(enumerate(items)) if isinstance(items, list) else [(None, doc)]
    found: list[RepeatedIn] = []
    for index, item in docs:
        keys: set[str] = set()
        _pop(item, keys)
        if keys:
            meta = item.get("metadata") if isinstance(item, dict) else None
            name = meta.get("name") if isinstance(meta, dict) else None
            found.append(RepeatedIn(index, name if isinstance(name, str) else None, tuple(sorted(keys))))
    outer: set[str] = set()
    _pop(doc, outer)  # the list body's own keys ("items" twice): the body is rewritten, no document to name
    try:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # an escaped lone surrogate ("\ud800"): keep it escaped
        text = json.dumps(doc, separators=(",", ":")).encode("ascii")
    return text, found
