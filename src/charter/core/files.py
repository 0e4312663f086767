"""Reading YAML/JSON documents while remembering the line of every mapping key.

Errors in charter files must name ``file:line``; PyYAML's composer knows the marks,
so mappings are loaded as :class:`LineDict`, a dict that also maps keys to lines.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import yaml

from charter.errors import InvalidInput, UsageError


class LineDict(dict):
    """A dict that remembers the 1-based line of the mapping and of each key."""

    line: int = 0
    key_lines: dict
    scalars: dict  # key -> the scalar value's source text

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


MAX_BYTES = 16 * 2**20  # a charter or taxonomy file; real ones are kilobytes
MAX_EXPANDED = 100_000  # nodes that aliases (*a) may stand for, in all: a "billion laughs" bomb stands for billions


class _Loader(yaml.SafeLoader):
    expanded = 0

    def compose_node(self, parent, index):
        # an alias re-uses its anchor's whole subtree; count what it stands for before anything is built from it
        alias = self.check_event(yaml.AliasEvent)
        mark = self.peek_event().start_mark if alias else None
        node = super().compose_node(parent, index)
        if alias:
            self.expanded += _size(node, {})
            if self.expanded > MAX_EXPANDED:
                raise InvalidInput(f"YAML aliases expand to more than {MAX_EXPANDED:,} values",
                                   hint="write the values out instead of aliasing them (alias bombs are refused)", where=f"{self.name}:{mark.line + 1}")
        return node


def _size(node, seen: dict) -> int:
    got = seen.get(id(node))
    if got is None:
        if isinstance(node, yaml.SequenceNode):
            got = 1 + sum(_size(n, seen) for n in node.value)
        elif isinstance(node, yaml.MappingNode):
            got = 1 + sum(_size(k, seen) + _size(v, seen) for k, v in node.value)
        else:
            got = 1
        seen[id(node)] = got
    return got


def _no_special_float(loader: _Loader, node: yaml.ScalarNode):
    value = loader.construct_yaml_float(node)
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{node.value!r} is not a number Charter accepts", hint="write a finite number",
                           where=f"{loader.name}:{node.start_mark.line + 1}")
    return value


_Loader.add_constructor("tag:yaml.org,2002:float", _no_special_float)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    out.scalars = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise InvalidInput(
                f"duplicate key {key!r}", hint="keep one of them",
                where=f"{loader.name}:{key_node.start_mark.line + 1}", field=str(key),
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode):
            out.scalars[key] = value_node.value  # the text as written (version: 1.10 is not 1.1)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_text(text: str, name: str) -> object:
    """Parse YAML (or JSON, which is checked strictly first) into plain data with line info."""
    if len(text) > MAX_BYTES:
        raise InvalidInput(f"file larger than {MAX_BYTES // 2**20} MiB", hint="split it into several files", where=name)
    try:
        return _parse_text(text, name)
    except RecursionError:  # [[[[... thousands deep: refused, never a traceback
        raise InvalidInput("nested too deeply", hint="a charter file nests a few levels: flatten it", where=name) from None


def _parse_text(text: str, name: str) -> object:
    if name.endswith(".json"):
        try:
            json.loads(text, parse_constant=_no_constant(name, text))
        except json.JSONDecodeError as e:
            raise InvalidInput(f"malformed JSON: {e.msg}", hint="fix the JSON syntax", where=f"{name}:{e.lineno}") from None
        # valid JSON has tabs only as whitespace (never raw inside strings); YAML rejects them
        text = text.replace("\t", " ")
    try:
        loader = _Loader(text)
        loader.name = name
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        msg = (e.problem or e.context or "syntax error").strip()
        raise InvalidInput(f"malformed YAML: {msg}", hint="fix the YAML syntax (indentation, quotes, colons)", where=f"{name}:{line}") from None
    except yaml.YAMLError as e:
        raise InvalidInput(f"malformed YAML: {e}", hint="fix the YAML syntax", where=name) from None


def _no_constant(name: str, text: str):
    def refuse(c: str):
        line = text[: text.find(c)].count("\n") + 1 if c in text else 0
        raise InvalidInput(f"{c} is not JSON", hint="write a finite number", where=f"{name}:{line}")
    return refuse


class _Number:
    """A JSON number's text, until ``_as_yaml`` reads it as the line-aware loader would."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw


_RESOLVER = yaml.resolver.Resolver()
_SPELLING = {True: "true", False: "false", None: "null"}


def _as_yaml(raw: str) -> object:
    """A JSON number's text read as YAML 1.1 reads it (the line-aware path parses JSON with PyYAML): ``1.10`` a
    float, ``1e5`` a string (YAML 1.1 floats need a dot and a signed exponent)."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, raw, (True, False))
    if tag == "tag:yaml.org,2002:int":
        return int(raw)
    if tag == "tag:yaml.org,2002:float":
        value = float(raw)
        if value in (float("inf"), float("-inf")):
            raise InvalidInput(f"{raw!r} is not a number Charter accepts", hint="write a finite number")
        return value
    return raw


def _line_free(value: object) -> object:
    """json.loads' pairs and numbers as the line-aware loader's data: LineDicts (lines unknown: 0) with each
    scalar's text, numbers and duplicate keys as it treats them (a duplicate raises for the line-aware re-read)."""
    if isinstance(value, _Number):
        return _as_yaml(value.raw)
    if isinstance(value, _Pairs):
        out = LineDict()
        out.line, out.key_lines, out.scalars = 0, {}, {}
        for k, v in value:
            if k in out:
                raise InvalidInput(f"duplicate key {k!r}", hint="keep one of them", field=str(k))
            if isinstance(v, _Number):
                out.scalars[k] = v.raw
            elif isinstance(v, str):
                out.scalars[k] = v
            elif v is None or isinstance(v, bool):
                out.scalars[k] = _SPELLING[v]
            out[k] = _line_free(v)
        return out
    if isinstance(value, list):
        return [_line_free(v) for v in value]
    return value


_YAML_BREAKS = re.compile("[\x85\u2028\u2029]")  # line breaks to YAML 1.1, plain characters to JSON


class _Pairs(list):
    """A JSON object's (key, value) pairs in order (json.loads' object_pairs_hook)."""


def parse_json_fast(text: str, name: str) -> object:
    """A JSON document as ``parse_text`` reads it, without line numbers (0), about 50 times faster: for a large
    file whose reader re-reads it with ``parse_text`` when it finds something to refuse (the error then names the
    line). Anything it cannot read exactly as ``parse_text`` would raises InvalidInput for that re-read."""
    if len(text) > MAX_BYTES:
        raise InvalidInput(f"file larger than {MAX_BYTES // 2**20} MiB", hint="split it into several files", where=name)
    if yaml.reader.Reader.NON_PRINTABLE.search(text) or _YAML_BREAKS.search(text):
        # characters the YAML reader refuses (its error has the line), or reads as line breaks inside a string
        raise InvalidInput("a character the line-aware reader treats otherwise", where=name)
    try:
        doc = json.loads(text, object_pairs_hook=_Pairs, parse_float=_Number, parse_int=_Number, parse_constant=_no_constant(name, text))
        return _line_free(doc)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidInput("not JSON this reader takes", where=name) from None


def load_document(path: Path, lines: bool = True) -> object:
    """The document at ``path``; ``lines=False``: a ``.json`` file through ``parse_json_fast`` (mappings without
    line numbers; see there)."""
    try:
        if Path(path).stat().st_size > MAX_BYTES:
            raise InvalidInput(f"file larger than {MAX_BYTES // 2**20} MiB", hint="split it into several files", where=str(path))
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput("file not found", hint="check the path", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read file: {e}", hint="pass a readable UTF-8 YAML or JSON file", where=str(path)) from None
    if not lines and str(path).endswith(".json"):
        return parse_json_fast(text, str(path))
    return parse_text(text, str(path))


def resource(name: str) -> Path:
    """Path of a file shipped in ``charter/resources``."""
    return Path(str(resources.files("charter") / "resources" / name))


def check_out_folder(path: Path) -> None:
    """``--out`` must be a folder (or not exist yet): a file there, or above it, is a one-line error."""
    p = Path(path)
    for q in [p, *p.parents]:
        if q.exists() and not q.is_dir():
            raise UsageError(f"--out {p} is not a folder ({q} is a file)", hint="pass a new or empty folder as --out", where=str(q))
        if q.exists():
            return
