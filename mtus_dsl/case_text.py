"""A case's JSON text read with bounds, each problem located: by `mtus decide` and by `mtus audit`'s JSONL lines."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mtus_dsl.case import MAX_INT_DIGITS

__all__ = ["BOM", "MAX_CASE_BYTES", "MAX_JSON_DEPTH", "BadJSON", "read_json"]

#: The deepest nesting of arrays and objects a case may have (a real case needs 3).
MAX_JSON_DEPTH = 50
#: The largest .json case file, and the longest .jsonl line, in bytes.
MAX_CASE_BYTES = 8 * 1024 * 1024

#: The byte order mark, allowed before a case (at the start of a file only).
BOM = b"\xef\xbb\xbf"
_JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_JSON_TOKENS = re.compile(_JSON_STRING + r"|[\[\]{}]")
_JSON_KEYS = re.compile(_JSON_STRING + r"|[\[\]{}:]")
_JSON_NUMBERS = re.compile(_JSON_STRING + rf"|\d{{{MAX_INT_DIGITS + 1},}}")


class BadJSON(ValueError):
    """A case that cannot be read as JSON: a message and where (1-based line and column)."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from all three (pickle would pass the message alone): it crosses processes whole.
        return (type(self), (self.message, self.line, self.column))


class _TooLong(ValueError):
    pass


class _Twice(ValueError):
    """A key given twice in one object (`key`)."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: a key given twice is refused, not silently the last one."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise _Twice(f"the key {json.dumps(twice)} is given twice; give each field once", twice)
    return found


class _OutOfRange(ValueError):
    """A number too large for a float (`literal`, as written)."""

    def __init__(self, literal: str):
        super().__init__(f"the number {literal} is out of range; a case's numbers are far smaller")
        self.literal = literal


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e400 would be read as inf, and then reported as a number nobody wrote
        raise _OutOfRange(literal)
    return value


def _parse_int(digits: str) -> int:
    count = len(digits) - digits.startswith("-")
    if count > MAX_INT_DIGITS:
        raise _TooLong(f"a number with {count} digits; a case's numbers have at most {MAX_INT_DIGITS}")
    return int(digits)


def _second_key(text: str, key: str) -> int:
    """Where `key` is given the second time in the first object that gives it twice (its offset in `text`).

    Only on that error: the text is read again by json's pure-Python scanner,
    which tells where each object starts, then that object's own keys are walked.
    """
    starts: list[int] = []

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> Any:
        try:
            return json.decoder.JSONObject(s_and_end, *args)  # type: ignore[attr-defined]
        except _Twice:
            if not starts:  # the innermost object fails first
                starts.append(s_and_end[1] - 1)
            raise

    decoder = json.JSONDecoder(object_pairs_hook=_object, parse_int=_parse_int)
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        decoder.decode(text)
    except (_Twice, ValueError):
        pass
    if not starts:
        return 0
    depth, seen, previous = 0, 0, None
    for match in _JSON_KEYS.finditer(text, starts[0]):
        token = match.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
            if depth == 0:
                break
        elif token == ":" and depth == 1 and previous is not None and json.loads(previous.group()) == key:
            seen += 1
            if seen == 2:
                return previous.start()
        previous = match if token[0] == '"' else None
    return starts[0]


def read_json(raw: bytes, line: int = 1) -> Any:
    """Read one case (UTF-8 JSON, an optional BOM first); raise BadJSON located at the problem.

    `line` is the line `raw` starts on (for a .jsonl line). Nesting deeper than
    MAX_JSON_DEPTH and integers longer than MAX_INT_DIGITS are refused before they
    can exhaust the stack or the integer conversion.
    """
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        where = line + raw.count(b"\n", 0, error.start)
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        byte = raw[error.start:error.start + 1].hex()
        raise BadJSON(f"not valid UTF-8: byte 0x{byte} (the file must be UTF-8)", where, column) from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        depth = 0
        for match in _JSON_TOKENS.finditer(text):
            token = match.group()
            if token in "[{":
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    at = match.start()
                    where = line + text.count("\n", 0, at)
                    raise BadJSON(f"not a case: nested more than {MAX_JSON_DEPTH} deep", where,
                                  at - (text.rfind("\n", 0, at) + 1) + 1)
            elif token in "]}":
                depth -= 1
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          object_pairs_hook=_object)
    except _Twice as error:
        at = _second_key(text, error.key)
        where = line + text.count("\n", 0, at)
        raise BadJSON(f"not a case: {error}", where, at - (text.rfind("\n", 0, at) + 1) + 1) from None
    except json.JSONDecodeError as error:
        raise BadJSON(f"not valid JSON: {error.msg}", line + error.lineno - 1, error.colno) from None
    except _TooLong as error:
        at = 0
        for match in _JSON_NUMBERS.finditer(text):
            if match.group()[0] != '"':
                at = match.start()
                break
        where = line + text.count("\n", 0, at)
        raise BadJSON(f"not a case: {error}", where, at - (text.rfind("\n", 0, at) + 1) + 1) from None
    except _OutOfRange as error:
        at = next((m.start() for m in re.finditer(_JSON_STRING + "|" + re.escape(error.literal), text)
                   if m.group()[0] != '"'), 0)
        where = line + text.count("\n", 0, at)
        raise BadJSON(f"not a case: {error}", where, at - (text.rfind("\n", 0, at) + 1) + 1) from None
    except RecursionError:  # pragma: no cover - the depth bound comes first
        raise BadJSON(f"not a case: nested more than {MAX_JSON_DEPTH} deep", line, 1) from None
