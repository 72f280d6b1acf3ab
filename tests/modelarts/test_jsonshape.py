"""The structural JSON check (`jsonshape`): cut bodies are caught at every byte, whole ones pass whatever their
depth or their bytes, and feeding in chunks of any size gives the verdict of the whole body."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.modelarts.jsonshape import EMPTY, NOT_JSON, OK, TRUNCATED, JsonShape, json_shape

# Escapes of every kind, brackets and quotes inside strings, an escaped backslash right before a closing quote,
# non-ASCII text, numbers, literals, empty containers.
DOCS = [
    b'{"a": "x[{\\"}]\\\\", "b": [1, 2.5e3, -0.1, true, false, null], "c": {}, "d": []}',
    b'[{"k": "\\u00e9\\n\\t\\/"}, "]", "[", "}", "{", "\\\\\\"", [[[]]], {"": ""}]',
    '{"name": "pool-é-中文", "n": 3, "s": "\\\\"}'.encode(),
    b'{"items":[{"metadata":{"name":"p1","labels":{"os.modelarts/name":"a b"}}},{"metadata":{"name":"p2"}}]}',
    b"[]",
    b"{}",
]


def chunked(body: bytes, size: int) -> str:
    shape = JsonShape()
    for i in range(0, len(body), size):
        shape.feed(body[i:i + size])
    return shape.verdict()


@pytest.mark.parametrize("doc", DOCS)
def test_whole_documents_are_ok_and_every_cut_is_caught(doc):
    json.loads(doc)  # the fixtures themselves are valid JSON
    assert json_shape(doc) == OK
    assert json_shape(b"\xef\xbb\xbf \n" + doc + b"\r\n ") == OK
    for cut in range(1, len(doc)):
        assert json_shape(doc[:cut]) == TRUNCATED, doc[:cut]


@pytest.mark.parametrize("doc", DOCS)
def test_chunk_boundaries_anywhere_give_the_same_verdict(doc):
    bodies = [doc, doc[:-1], doc[: len(doc) // 2], b"\xef\xbb\xbf" + doc]
    for body in bodies:
        whole = json_shape(body)
        for size in range(1, len(body) + 1):
            assert chunked(body, size) == whole, (body, size)


def test_any_depth_is_fine_and_costs_no_recursion():
    deep = b'{"items":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert json_shape(deep) == OK
    assert json_shape(deep[:-1]) == TRUNCATED
    assert chunked(deep, 4096) == OK


def test_bad_bytes_and_bad_tokens_inside_a_complete_body_are_for_the_normalizer():
    # One pool's description is not UTF-8; another's count is not a number: the body is still whole.
    body = b'{"items":[{"metadata":{"name":"a","description":"\xff\xfe bad"}},{"spec":{"count":NaN}}]}'
    assert json_shape(body) == OK
    assert json_shape(b'{"a": "\x00\x01 control bytes"}') == OK


def test_empty_bodies():
    for body in (b"", b"  \r\n\t ", b"\xef\xbb\xbf", b"\xef\xbb\xbf  \n"):
        assert json_shape(body) == EMPTY, body
        assert chunked(body, 1) == EMPTY, body


def test_bodies_that_are_not_json_at_all():
    for body in (b"<html><body>502 Bad Gateway</body></html>", b"null", b"42", b'"text"', b"OK",
                 b"\xef\xbb", b"\xef\xbb{}", b"\xff{}"):
        assert json_shape(body) == NOT_JSON, body
        assert chunked(body, 1) == NOT_JSON, body


def test_unbalanced_or_badly_ended_bodies_are_not_whole():
    for body in (b'{"a": 1}}', b'{"a": [1}', b"[1, 2", b'{"a": "b', b'{"a": "b\\', b"{}\\", b'{"a": 1} x',
                 b"[}", b"{]"):
        assert json_shape(body) == TRUNCATED, body
        assert chunked(body, 1) == TRUNCATED, body


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(alphabet='ab"\\/[]{}é\n\x00 '),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet='k"\\[}', max_size=3), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=st.one_of(st.lists(_json_values), st.dictionaries(st.text(max_size=3), _json_values)),
       ascii_only=st.booleans(), size=st.integers(1, 7), data=st.data())
def test_random_documents_whole_and_cut(value, ascii_only, size, data):
    doc = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_shape(doc) == OK and chunked(doc, size) == OK
    cut = data.draw(st.integers(1, len(doc) - 1)) if len(doc) > 1 else None
    if cut is not None:
        assert json_shape(doc[:cut]) == TRUNCATED and chunked(doc[:cut], size) == TRUNCATED
