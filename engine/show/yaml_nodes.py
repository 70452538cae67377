"""YAML text to a node tree, bounded whatever the text declares, with errors that point at the right place.

Show files are untrusted text. Before the schema sees a node:

* the text is at most :data:`MAX_SHOW_BYTES`;
* nesting is checked on the token stream first (PyYAML composes recursively, so 3,000 nested brackets
  would otherwise end in a 3,000-line RecursionError): at most :data:`MAX_DEPTH` levels;
* aliases are expanded in count only, linearly (``&a [*b, *b]`` chains double at every level, the "billion
  laughs"): the tree a reader would walk has at most :data:`MAX_EXPANDED_NODES` nodes, and an alias to an
  anchor that contains it (a cycle) is refused;
* a syntax error becomes one line with the line and column where the mistake most likely is: the start of
  an unclosed quote or bracket rather than the end of the file, the line that lacks a ``:`` rather than
  the next one, and the position of a control character rather than 1:1.

    >>> compose_bounded("format: 1\\ncues: []\\n", "show.yaml").value[0][0].value
    'format'
"""

from __future__ import annotations

import dataclasses

import yaml
from yaml import Node

MAX_SHOW_BYTES = 4 * 2 ** 20        # a show with ten thousand cues is about 1 MB
MAX_DEPTH = 64                      # a show file nests about 6 levels deep
MAX_EXPANDED_NODES = 500_000        # nodes after alias expansion (ten thousand cues need about 200,000)


@dataclasses.dataclass(frozen=True)
class YamlProblem(Exception):
    """Where and what: line and column are 1-based."""

    line: int
    column: int
    message: str


def compose_bounded(text: str, path: str) -> Node | None:
    """The root node of ``text`` (None for an empty document); raises :class:`YamlProblem`."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SHOW_BYTES:
        raise YamlProblem(1, 1, f"the file is larger than {MAX_SHOW_BYTES // 2 ** 20} MiB; a show file is text "
                                "of a few pages")
    _check_depth(text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # _check_depth makes this unreachable; kept so nothing escapes
        raise YamlProblem(1, 1, f"nested deeper than {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        raise _problem(exc, text) from None
    if root is not None:
        _check_expansion(root)
    return root


def _check_depth(text: str) -> None:
    openers = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
               yaml.FlowSequenceStartToken)
    closers = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, openers):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = token.start_mark
                    raise YamlProblem(mark.line + 1, mark.column + 1, f"nested deeper than {MAX_DEPTH} levels")
            elif isinstance(token, closers):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _problem(exc, text) from None


def _check_expansion(root: Node) -> None:
    """Count the nodes of the tree as a reader sees it (aliases expanded), without expanding anything."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > MAX_EXPANDED_NODES:
                mark = node.start_mark
                raise YamlProblem(mark.line + 1, mark.column + 1, f"aliases expand this document to more than "
                                  f"{MAX_EXPANDED_NODES} values; use fewer or flatter aliases")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            mark = node.start_mark
            raise YamlProblem(mark.line + 1, mark.column + 1, "an alias refers to an anchor that contains it "
                                                              "(a cycle); expected a tree")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                mark = child.start_mark
                raise YamlProblem(mark.line + 1, mark.column + 1, "an alias refers to an anchor that contains "
                                                                  "it (a cycle); expected a tree")
            if id(child) not in size:
                stack.append((child, False))


def _children(node: Node) -> list[Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _problem(exc: yaml.YAMLError, text: str) -> YamlProblem:
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[:exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return YamlProblem(line, column, f"YAML syntax: unacceptable character {char} (control characters are not "
                                         "allowed in a show file)")
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return YamlProblem(1, 1, "YAML syntax: " + " ".join(str(exc).split()))
    problem, mark, context = exc.problem or "", exc.problem_mark, exc.context
    line, column = mark.line + 1, mark.column + 1
    message = problem
    at_end = "stream end" in problem or "end of stream" in problem
    if context and exc.context_mark is not None and at_end:
        # An unclosed quote or bracket is noticed at the end of the file; the mistake is where it opened.
        line, column = exc.context_mark.line + 1, exc.context_mark.column + 1
        message = f"{context} that is never closed ({problem} at line {mark.line + 1})"
    elif context:
        message = f"{context}: {problem}"
    if problem == "mapping values are not allowed here":
        lines = text.splitlines()
        previous = next((i for i in range(mark.line - 1, -1, -1) if lines[i].strip()
                         and not lines[i].lstrip().startswith("#")), None)
        current = lines[mark.line] if mark.line < len(lines) else ""
        if previous is not None and ":" not in lines[previous] and not lines[previous].lstrip().startswith("-") \
                and ":" in current and len(current.split(":", 1)[0].split()) == 1:
            # "key value" then "other: 1": the first line runs on into the second, which cannot take a ':'.
            text_start = len(lines[previous]) - len(lines[previous].lstrip())
            return YamlProblem(previous + 1, text_start + 1, f"YAML syntax: expected 'key: value', found "
                                                             f"'{lines[previous].strip()[:40]}' (a missing ':'?)")
    return YamlProblem(line, column, "YAML syntax: " + message)


def kind_of(node: Node | None) -> str:
    """What a node is, for messages: a mapping, a list, a quoted value or nothing."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        return f"'{clip(str(node.value))}'" if node.value != "" else "nothing"   # one line, bounded
    return "nothing"


def clip(text: str, limit: int = 60) -> str:
    """Untrusted text shown in a message: one line, bounded."""
    line = text.replace("\n", " ").replace("\r", " ")
    return line if len(line) <= limit else line[:limit - 1] + "…"
