"""Declarative field mappings: TOML files that say where each normalized field lives in a
record. The built-in formats are mappings too (``postpulse/ingest/mappings/*.toml``); users add
their own with ``mapping_paths=`` / ``--mapping``. The file format is documented in
``postpulse/ingest/mappings/README.md``.

A mapping is compiled once into plain closures (path getters with their fallbacks and
transforms), so applying it to a record is cheap; for posts, ``Mapping.build`` runs a Python
function generated from those (``fast_build``: plain paths inlined, loops unrolled, the same
converters, checks and messages as ``Mapping.build_post``).

Modules: ``fields`` (field names, limits), ``errors``, ``paths`` (paths and specs),
``values`` (type coercion), ``specs``, ``model`` (``Mapping``), ``fast_build``, ``loading``
(mapping files, the built-in set, ``MappingSet``).
"""

from .errors import BAD_VALUE_ERRORS, BadValue, MappingError
from .fields import BUILTIN_DIR, MAX_ID_CHARS, MAX_LIST_ITEMS, MAX_TEXT_CHARS
from .loading import MappingSet, builtin_mappings, load_mapping_file, load_mappings, parse_mapping
from .model import Mapping
from .paths import Getter, compile_path, compile_spec
from .specs import BuildContext, CommentSpec, MediaSpec
from .values import to_bool, to_count, to_float, to_id, to_tags, to_text, to_time

__all__ = [
    "BAD_VALUE_ERRORS",
    "BUILTIN_DIR",
    "BadValue",
    "BuildContext",
    "CommentSpec",
    "Getter",
    "MAX_ID_CHARS",
    "MAX_LIST_ITEMS",
    "MAX_TEXT_CHARS",
    "Mapping",
    "MappingError",
    "MappingSet",
    "MediaSpec",
    "builtin_mappings",
    "compile_path",
    "compile_spec",
    "load_mapping_file",
    "load_mappings",
    "parse_mapping",
    "to_bool",
    "to_count",
    "to_float",
    "to_id",
    "to_tags",
    "to_text",
    "to_time",
]
