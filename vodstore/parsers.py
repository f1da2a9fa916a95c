"""The API's JSON parser: DRF's, refusing JSON nested too deep.

DRF's `JSONParser` turns a `ValueError` into a 400 but nothing else, and Python's
`json` module raises `RecursionError` for nesting deeper than the interpreter's stack
allows (about a thousand levels, fewer when the stack is already deep): a 500. No
request of this API nests more than a few levels, so anything deeper than
`MAX_DEPTH` is refused as a `ParseError` with the code `invalid` (a 400), whatever
the stack has left; so is a string holding a lone surrogate. (JSON that is not
well-formed stays DRF's 400 `parse_error`.)
"""

import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32

TOO_DEEP = f"JSON parse error - nested deeper than {MAX_DEPTH} levels."
NOT_UNICODE = "JSON parse error - a string holds a lone surrogate (\\ud800-\\udfff)."


def depth(value: object) -> int:
    """How deeply `value` (parsed JSON) nests arrays and objects; a scalar is 0.
    Iterative, so that no depth can exhaust the stack here either."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, list | dict) else []
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, level + 1) for child in children if isinstance(child, list | dict))
    return deepest


def encodable(value: object) -> bool:
    """Whether every string in `value`, keys too, is real Unicode: JSON's `\\ud800`
    escapes decode to a lone surrogate, which no database or encoder will take."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


class JSONParser(parsers.JSONParser):
    """`rest_framework.parsers.JSONParser`, with too-deep JSON a 400 instead of a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP, code="invalid") from None
        if depth(data) > MAX_DEPTH:
            raise ParseError(TOO_DEEP, code="invalid")
        if not encodable(data):
            raise ParseError(NOT_UNICODE, code="invalid")
        return data
