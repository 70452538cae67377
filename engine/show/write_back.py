"""Writing into a show file without disturbing it: MIDI learn adds its mappings here.

The file is edited with ruamel.yaml's round-trip mode, so its comments, key order, quoting and flow style
stay as the author wrote them; only ``inputs: midi: map:`` gains (or replaces) one entry. The new text must
load as a valid show before it replaces the file (atomically: written beside it, then renamed), so a learn
can never leave a show that will not open; the running engine's show watcher then reloads it.

    add_midi_mapping("shows/mine.yaml", {"cc": 16, "channel": 1, "param": "walk.speed"}, "shaders")
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from engine.show.yaml_nodes import MAX_SHOW_BYTES

CONTROL_KEYS = ("control", "cc", "cc14", "nrpn", "note", "program")


def add_midi_mapping(path: str, entry: dict[str, Any], shader_dir: str | None = None) -> str:
    """Add ``entry`` to the show's ``inputs: midi: map:``, dropping an older entry on the same control (and
    channel). Returns a one-line summary; ValueError (the show stays as it was) if the result would not load."""
    from engine.show.load import ShowLoadError, parse_show, engine_vocabulary
    with open(path, encoding="utf-8") as f:
        text = f.read(MAX_SHOW_BYTES + 1)
    if len(text) > MAX_SHOW_BYTES:
        raise ValueError(f"{path}: larger than {MAX_SHOW_BYTES} bytes; not edited")
    yaml = YAML()                                   # round trip: comments and layout survive
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)    # the house style of shows/: "key:" then "  - item"
    document = yaml.load(text)
    if not isinstance(document, CommentedMap):
        raise ValueError(f"{path}: not a show (expected a mapping at the top)")
    inputs = _child(document, "inputs")
    midi = _child(inputs, "midi")
    mappings = midi.get("map")
    if not isinstance(mappings, CommentedSeq):
        mappings = CommentedSeq()
        midi["map"] = mappings
    control = _control_of(entry)
    for i in reversed(range(len(mappings))):
        if isinstance(mappings[i], dict) and _control_of(dict(mappings[i])) == control:
            del mappings[i]
    item = CommentedMap(entry)
    item.fa.set_flow_style()                        # one line per mapping, as people write them by hand
    mappings.append(item)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    new_text = buffer.getvalue()
    try:
        parse_show(new_text, path, engine_vocabulary(shader_dir) if shader_dir else engine_vocabulary("shaders"))
    except ShowLoadError as exc:
        raise ValueError(f"{path}: the learned mapping would not load, the file is unchanged: "
                         f"{str(exc).splitlines()[0]}") from None
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".learn-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new_text)
        os.chmod(temporary, os.stat(path).st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    target = entry.get("param") or entry.get("command") or entry.get("cue")
    return f"{os.path.basename(path)}: {control[0]} {control[1]} -> {target}"


def _child(parent: CommentedMap, key: str) -> CommentedMap:
    value = parent.get(key)
    if not isinstance(value, CommentedMap):
        value = CommentedMap()
        parent[key] = value
    return value


def _control_of(entry: dict[str, Any]) -> tuple[str, Any, Any]:
    for key in CONTROL_KEYS:
        if key in entry:
            return key, entry[key], entry.get("channel")
    return "", None, None
