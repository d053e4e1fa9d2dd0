"""Reading the project's YAML files (run configs, studies, search spaces) with one-line errors.

Every file is read through :func:`read_yaml`, which refuses what would make tfbench hang or run
out of memory rather than fail: a file over :data:`MAX_BYTES`, and a document whose aliases
expand to more than :data:`MAX_EXPANDED` (the "billion laughs": a few hundred bytes of nested
``&a``/``*a`` that expand to gigabytes once anything walks them). The expanded size is counted
on the composed node graph, where every alias is one shared node, in time proportional to the
file, before anything is built from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tfbench.errors import ConfigError

MAX_BYTES = 1_000_000
# Expanded size: characters of every scalar plus one per node, counting each alias as a copy.
MAX_EXPANDED = 1_000_000


def _expanded_size(root: yaml.Node, where: str) -> int:
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in on_path:
            raise ConfigError(f"{where}: a YAML alias refers to the node that contains it (a recursive document)")
        if isinstance(node, yaml.ScalarNode):
            total = 1 + len(node.value)
        else:
            on_path.add(id(node))
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            total = 1
            for child in children:
                total += size(child)
                if total > MAX_EXPANDED:
                    break  # no need to know by how much
            on_path.discard(id(node))
        sizes[id(node)] = total
        return total

    return size(root)


def _parse(text: str, where: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, where) > MAX_EXPANDED:
            raise ConfigError(
                f"{where}: its YAML aliases expand to more than {MAX_EXPANDED:,} characters; "
                "refusing it (write the values out, or use fewer nested aliases)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed content of ``path``; ``what`` names the kind of file in error messages
    (e.g. "config file"): a missing, unreadable, binary, oversized or alias-bomb file and invalid
    YAML (with its line) are each a one-line ConfigError naming the file."""
    p = Path(path)
    where = f"{what} {p}"
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a directory, not a YAML file") from None
    except PermissionError:
        raise ConfigError(f"{where} cannot be read: permission denied") from None
    except OSError as e:
        raise ConfigError(f"{where} cannot be read: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_BYTES:,} bytes; not a settings file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where} is not a text file (byte {e.start} is not UTF-8)") from None
    try:
        return _parse(text, where)
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to read") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"{where}{f' line {mark.line + 1}' if mark is not None else ''}: not valid YAML") from None
