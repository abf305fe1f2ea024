"""Un-flattening of flattened column names into nested dicts and lists.

``{"author/name": "x", "comments/0/text": "hi", "authorMeta.name": "y"}`` becomes
``{"author": {"name": "x"}, "comments": [{"text": "hi"}], "authorMeta": {"name": "y"}}``.
Both ``/`` and ``.`` separate levels; all-digit segments are list indexes. When a flat key
collides with a nested one (``"a": 1`` and ``"a.b": 2``) the flat value is kept as is and the
nested key stays flat, so nothing is lost.
"""

from __future__ import annotations

import re
from typing import Any

_SPLIT = re.compile(r"[./]")


def needs_unflatten(obj: dict) -> bool:
    for k in obj:
        if "." in k or "/" in k:
            return True
    return False


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    if not needs_unflatten(flat):
        return flat
    root: dict[str, Any] = {}
    conflicts: dict[str, Any] = {}
    for key, value in flat.items():
        if "." not in key and "/" not in key:
            if key in root and isinstance(root[key], (dict, list)):
                conflicts[key] = value
            else:
                root[key] = value
            continue
        parts = [p for p in _SPLIT.split(key)]
        if any(p == "" for p in parts) or key.startswith(("http:", "https:")):
            conflicts[key] = value
            continue
        if not _insert(root, parts, value):
            conflicts[key] = value
    if conflicts:
        for k, v in conflicts.items():
            root.setdefault(k, v)
    for k, v in root.items():
        if isinstance(v, dict):
            root[k] = _lists(v)
    return root


def _insert(root: dict, parts: list[str], value: Any) -> bool:
    node: Any = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if not isinstance(node, dict):
            return False
        if last:
            if part in node and isinstance(node[part], dict):
                return False
            node[part] = value
            return True
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            return False
        node = child
    return True


def _lists(node: Any) -> Any:
    """Turn dicts whose keys are all digits into lists (sorted by index)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict):
                node[k] = _lists(v)
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node
