"""Reading YAML with positions: the only code in deployer that parses YAML.

`read_document` turns a file into plain Python data plus a `SourceMap` from every path in the
document to its line and column. It refuses, with a located message, what a spec must never be:
a missing, binary, oversized or non-UTF-8 file, tabs in indentation, and alias bombs (documents
that expand exponentially through anchors and aliases). Duplicate keys, non-string keys and tags
are reported with the document (`Document.issues`), so that the rest of it is still checked.
YAML merge keys (`<<: *defaults`) merge as YAML 1.1 says: the mapping's own keys win.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deployer.errors import DeployerError, Issue, SpecError

MAX_FILE_BYTES = 1_000_000
MAX_VALUES = 100_000  # values built from the document, counting every alias expansion
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Position:
    line: int
    col: int


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a document stands in its file."""

    file: str
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def resolve(self, loc: tuple[Any, ...]) -> tuple[PathKey, list[str]]:
        """Walk `loc` (a pydantic error location) through the document.

        Returns the longest prefix that exists in the document, and the trailing segments that do
        not (a missing key). Segments that are not document keys in the middle of `loc` (union
        tags such as `canary` or `function-after[...]`) are skipped.
        """
        found: list[str | int] = []
        rest: list[str] = []
        for segment in loc:
            candidate = (*found, segment)
            if candidate in self.values:
                found.append(segment)
                rest = []
            elif _is_field_name(segment):
                rest.append(str(segment))
        return tuple(found), rest[-1:]

    def locate(self, path: PathKey, *, at_key: bool = False) -> Position:
        if at_key and path in self.keys:
            return self.keys[path]
        while path and path not in self.values:
            path = path[:-1]
        return self.values.get(path, Position(1, 1))

    def issue(self, path: PathKey, message: str, *, at_key: bool = False, severity: str = "error") -> Issue:
        pos = self.locate(path, at_key=at_key)
        return Issue(self.file, pos.line, pos.col, dotted(path), message, severity)


def _is_field_name(segment: Any) -> bool:
    return isinstance(segment, str) and re.fullmatch(r"[A-Za-z_][\w-]*", segment) is not None and segment not in {
        "str", "int", "float", "bool", "list", "dict", "none",
    }


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for segment in path:
        out += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if out else str(segment))
    return out


@dataclass(frozen=True)
class Document:
    data: dict[str, Any]
    source: SourceMap
    path: Path
    #: Problems found while building the data (duplicate keys, tags), and the paths they spoil.
    issues: tuple[Issue, ...] = ()
    spoiled: tuple[PathKey, ...] = ()


def read_document(path: str | os.PathLike[str], *, display: str | None = None) -> Document:
    """Read and parse a YAML spec file; every problem becomes a located `SpecError`."""
    file_path = Path(path)
    name = display or str(path)
    raw = b""
    try:
        size = file_path.stat().st_size
        if file_path.is_dir():
            raise DeployerError(f"cannot read {name}: it is a directory", hint="pass the path of agent.yaml")
        if size <= MAX_FILE_BYTES:  # at most one byte more than allowed: a device or pipe has no size
            with file_path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DeployerError(
            f"cannot read {name}: no such file",
            hint="run `deployer init NAME` to scaffold an agent, or pass --spec PATH",
        ) from None
    except OSError as exc:
        raise DeployerError(f"cannot read {name}: {exc.strerror or exc}") from None
    limit = f"an agent spec may be at most {MAX_FILE_BYTES // 1_000_000} MB"
    if size > MAX_FILE_BYTES:
        raise SpecError([Issue(name, 1, 1, "", f"file is {size / 1e6:.1f} MB; {limit}")])
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError([Issue(name, 1, 1, "", f"file holds more than {MAX_FILE_BYTES // 1_000_000} MB (it does not "
                                               f"end where its size says: a device or a pipe?); {limit}")])
    return parse_document(raw, name=name, path=file_path)


def parse_document(raw: bytes, *, name: str, path: Path) -> Document:
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line, col = _line_col(raw, offset)
        raise SpecError([Issue(name, line, col, "", "binary data (a NUL byte); an agent spec is YAML text")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise SpecError([Issue(name, line, col, "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8")]) from None
    tabs = [
        Issue(name, number, match.start() + 1, "", "tab character in indentation; YAML indents with spaces only")
        for number, line_text in enumerate(text.splitlines(), start=1)
        if (match := re.match(r"^ *(\t)", line_text))
    ]
    if tabs:
        raise SpecError(tabs)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_yaml_issue(name, exc, text)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Issue(name, 1, 1, "", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise SpecError([Issue(name, 1, 1, "", f"the document nests too deeply to read (more than {MAX_DEPTH} levels)")]) from None
    if root is None:
        what = "the file is empty" if not text.strip() else "the file holds only comments"
        raise SpecError([Issue(name, 1, 1, "", f"{what}; an agent spec needs name, code, model, actions and "
                                               "environments (run `deployer init NAME` for a starting point)")])
    _refuse_bombs(root, name)
    builder = _Builder(SourceMap(name))
    data = builder.build(root, ())
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({str(data)[:40]!r})"
        raise SpecError([*builder.issues, Issue(name, 1, 1, "", "the top level must be a mapping of sections "
                                                                 f"(name:, code:, model:, ...), not {kind}")])
    return Document(data=data, source=builder.source, path=path, issues=tuple(builder.issues),
                    spoiled=tuple(builder.spoiled))


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


def _yaml_issue(name: str, exc: yaml.MarkedYAMLError, text: str) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    if "end of stream" in problem and exc.context and exc.context_mark is not None:
        # the file ended inside a quote or bracket: point at where it was opened, not at the end
        start = exc.context_mark
        opened = {"while scanning a quoted scalar": "a quoted string", "while parsing a flow sequence": "a list ([ ...)",
                  "while parsing a flow mapping": "a mapping ({ ...)"}.get(exc.context, f"something ({exc.context})")
        return Issue(name, start.line + 1, start.column + 1, "",
                     f"YAML syntax error: {opened} that starts here is never closed (the file ends first)")
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if problem == "but found another document":
        return Issue(name, line, col, "", "a second YAML document (after `---`); an agent spec is a single document: "
                                          "remove the `---` line and what follows, or move it to its own file")
    if problem == "found undefined alias" and mark is not None:  # the C parser leaves out the name
        alias = re.match(r"\*([^\s,\[\]{}]+)", text.splitlines()[mark.line][mark.column:] if mark.line < len(text.splitlines()) else "")
        problem = f"found undefined alias {alias.group(1)!r}" if alias else problem
    if problem.startswith("found undefined alias"):
        problem += "; define the anchor (&name) before using it"
    problem = problem.replace("mapping values are not allowed in this context", "mapping values are not allowed here")
    context = ""
    if exc.context and exc.context != problem:
        started = exc.context_mark
        if started is not None and mark is not None and (started.line, started.column) != (mark.line, mark.column):
            context = f" ({exc.context} that starts at line {started.line + 1}, column {started.column + 1})"
        else:
            context = f" ({exc.context})"
    hint = next((h for key, h in _YAML_HINTS.items() if key in problem), "")
    return Issue(name, line, col, "", f"YAML syntax error: {problem}{context}{hint}")


#: A nudge for the YAML errors people make most; keyed by a piece of the parser's message.
_YAML_HINTS = {
    "mapping values are not allowed here": "; check this line's indentation, or quote a value that contains ': '",
    "did not find expected key": "; check the indentation, or whether a list item (- ...) sits among keys",
    "did not find expected ',' or": "; a flow mapping or list ({...} or [...]) is never closed",
    "found character that cannot start any token": "; quote the value (characters such as ` @ and % cannot start plain text)",
}


def _refuse_bombs(root: yaml.Node, name: str) -> None:
    """Refuse, before building anything, a document whose aliases expand too far or loop.

    Aliases share nodes in the composed graph, so counting with a memo is linear in the file
    size however large the expansion is ("billion laughs" is refused in microseconds).
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, path: PathKey) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if len(path) > MAX_DEPTH:
            mark = node.start_mark
            raise SpecError([Issue(name, mark.line + 1, mark.column + 1, dotted(path[:1]),
                                   f"the document nests deeper than {MAX_DEPTH} levels; refusing it")])
        if key in active:
            mark = node.start_mark
            raise SpecError([Issue(name, mark.line + 1, mark.column + 1, dotted(path),
                                   "recursive alias: this anchor contains an alias to itself, so it never ends; "
                                   "remove the alias or copy the values")])
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                label = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                total += size(key_node, path) + size(value_node, (*path, label))
        elif isinstance(node, yaml.SequenceNode):
            for index, child in enumerate(node.value):
                total += size(child, (*path, index))
        active.discard(key)
        sizes[key] = total
        if total > MAX_VALUES:
            top = path[:1]
            raise SpecError([Issue(name, node.start_mark.line + 1, node.start_mark.column + 1, dotted(top),
                                   f"the document expands to {total:,} values through anchors and aliases "
                                   f"(more than {MAX_VALUES:,}): an alias bomb? refusing it")])
        return total

    size(root, ())


#: Tags the safe constructor builds into plain data; anything else (`!!python/object`, `!Ref`) is refused.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "omap", "pairs", "set", "merge")
)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _show_tag(tag: str) -> str:
    return repr("!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag)


class _Builder:
    """Builds plain data from a composed node graph, recording positions and refusing bombs."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.issues: list[Issue] = []
        self.spoiled: list[PathKey] = []
        self.count = 0
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: PathKey, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_VALUES or depth > MAX_DEPTH:
            what = f"expands to more than {MAX_VALUES:,} values" if self.count > MAX_VALUES else f"nests deeper than {MAX_DEPTH} levels"
            mark = node.start_mark
            raise SpecError([Issue(self.source.file, mark.line + 1, mark.column + 1, dotted(path[:1]),
                                   f"the document {what} (anchors and aliases expanding?); refusing it")])
        self.source.values.setdefault(path, Position(node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _PLAIN_TAGS:
            self._refuse(node, path, f"YAML tag {_show_tag(node.tag)} is not allowed; agent.yaml holds plain values "
                                     "(remove the tag, or quote the value if it is text)")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: PathKey) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, AttributeError):  # e.g. `!!int ten`, `!!binary ###`
            shown = repr(node.value) if len(node.value) <= 40 else f"{node.value[:40]!r}... ({len(node.value):,} characters)"
            self._refuse(node, path, f"{shown} cannot be read as {_show_tag(node.tag)}; fix the value (or remove the tag)")
            return None

    def _refuse(self, node: yaml.Node, path: PathKey, message: str) -> None:
        mark = node.start_mark
        self.issues.append(Issue(self.source.file, mark.line + 1, mark.column + 1, dotted(path), message))
        self.spoiled.append(path)

    def _mapping(self, node: yaml.MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if key_node.tag not in _PLAIN_TAGS:
                self._refuse(key_node, path, f"YAML tag {_show_tag(key_node.tag)} is not allowed on a key; keys are plain text")
                continue
            key = self._scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            key_pos = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key, str):
                self.issues.append(Issue(self.source.file, key_pos.line, key_pos.col, dotted(path), _key_message(key, key_node)))
                self.spoiled.append(path)
                continue
            child = (*path, key)
            if key in out:
                first = self.source.keys[child]
                self.issues.append(Issue(self.source.file, key_pos.line, key_pos.col, dotted(child),
                                         f"duplicate key {key!r} (first defined at line {first.line}); keep one"))
                self.spoiled.append(child)
                continue
            self.source.keys[child] = key_pos
            out[key] = self.build(value_node, child, depth + 1)
        # YAML 1.1 merge keys: the mapping's own keys win, then the merged mappings in order
        for merged in merges:
            for key, key_node, value_node in self._merged_pairs(merged, path, depth):
                if key not in out:
                    child = (*path, key)
                    self.source.keys.setdefault(child, Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                    out[key] = self.build(value_node, child, depth + 1)
        return out

    def _merged_pairs(self, node: yaml.Node, path: PathKey, depth: int) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (key, key node, value node) pairs `<<: node` brings in, its own merge keys applied."""
        if depth > MAX_DEPTH:
            return []
        if isinstance(node, yaml.SequenceNode):
            return [pair for item in node.value for pair in self._merged_pairs(item, path, depth + 1)]
        if not isinstance(node, yaml.MappingNode):
            self._refuse(node, path, "`<<:` merges a mapping, or a list of mappings, into this one (e.g. `<<: *defaults`); "
                                     "this is neither")
            return []
        own: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
        inherited: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                inherited += self._merged_pairs(value_node, path, depth + 1)
            elif isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:str":
                own.setdefault(key_node.value, (key_node.value, key_node, value_node))
        pairs = list(own.values())
        seen = set(own)
        for pair in inherited:
            if pair[0] not in seen:
                seen.add(pair[0])
                pairs.append(pair)
        return pairs


def _key_message(key: Any, node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        kinds = {bool: "true/false", int: "a number", float: "a number", type(None): "null"}
        kind = next((v for k, v in kinds.items() if type(key) is k), type(key).__name__)
        return f"key {node.value!r} is read as {kind}, but keys must be text; quote it: \"{node.value}\""
    return "a key must be plain text, not a list or mapping"
