"""JSON-level rules shared by both modes: strict loading (no duplicate keys, no NaN/Infinity,
which Python's json module otherwise accepts) and the issue list every check appends to."""

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    severity: str  # "error" | "warning"
    path: str
    message: str


class Issues:
    """Collects issues in order, without duplicates."""

    def __init__(self):
        self._items = []
        self._seen = set()

    def error(self, path, message):
        self._add(Issue("error", path, message))

    def warning(self, path, message):
        self._add(Issue("warning", path, message))

    def _add(self, issue):
        key = (issue.severity, issue.path, issue.message)
        if key not in self._seen:
            self._seen.add(key)
            self._items.append(issue)

    def __iter__(self):
        return iter(self._items)

    def errors(self):
        return [i for i in self._items if i.severity == "error"]

    def warnings(self):
        return [i for i in self._items if i.severity == "warning"]


class JsonLoadError(Exception):
    pass


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise JsonLoadError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name):
    raise JsonLoadError(f"{name} is not JSON")


def load(path):
    """The JSON document in `path`; raises JsonLoadError (or OSError) when it is not strict JSON."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonLoadError(f"not UTF-8: {e}") from e
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise JsonLoadError(str(e)) from e


def json_type(value):
    """A short name of a JSON value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_empty(value):
    """null, "", whitespace-only string, [] or {}."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (list, dict)):
        return len(value) == 0
    return False
