"""Message templates (``message_templates``): reusable texts with variables.

Syntax: Jinja2 ``{{ name }}`` variables, rendered in a sandboxed environment (no access to
Python internals from a template) with strict undefined variables, no HTML autoescaping (the
output is plain social-media text). Filters work, e.g. ``{{ first_name | default("there") }}``
or ``{{ name | title }}``; a plain ``{name}`` is literal text.

A variable that is used but not given raises ``TemplateError`` naming the variable and the
template; so does a syntax error (with its line).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

#: rendered text longer than this is refused (a template is a message, not a document)
MAX_RENDERED_LENGTH = 20_000


class TemplateError(ValueError):
    def __init__(self, message: str, *, template: str, variable: str | None = None) -> None:
        self.template = template
        self.variable = variable
        super().__init__(message)


class _MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


class _Undefined(StrictUndefined):
    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        if self._undefined_obj is missing and self._undefined_hint is None and self._undefined_name:
            raise _MissingVariable(self._undefined_name)
        raise UndefinedError(self._undefined_message)  # e.g. a missing attribute of a given value

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = (  # type: ignore[assignment]
        _fail_with_undefined_error
    )
    __add__ = __radd__ = __mul__ = __rmul__ = __getitem__ = __lt__ = __le__ = __gt__ = __ge__ = (  # type: ignore[assignment]
        _fail_with_undefined_error
    )


_ENV = SandboxedEnvironment(
    undefined=_Undefined, autoescape=False, keep_trailing_newline=True, auto_reload=False, cache_size=0
)


def _label(name: str | None) -> str:
    return f"template {name!r}" if name else "template"


@lru_cache(maxsize=1024)
def _compile(template_text: str) -> Any:
    return _ENV.from_string(template_text)


def _parse(template_text: str, name: str | None) -> Any:
    if not isinstance(template_text, str):
        raise TemplateError(f"{_label(name)}: template text must be a string", template=name or "")
    try:
        return _compile(template_text)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{_label(name)}: syntax error on line {exc.lineno}: {exc.message}", template=name or ""
        ) from None


def variables(template_text: str, *, name: str | None = None) -> set[str]:
    """The variable names a template uses (including ones wrapped in ``default``)."""
    _parse(template_text, name)
    return set(meta.find_undeclared_variables(_ENV.parse(template_text)))


def render(template_text: str, variables: Mapping[str, Any], *, name: str | None = None) -> str:
    """Render ``template_text`` with ``variables``; ``name`` (e.g. the template id) is used in errors."""
    template = _parse(template_text, name)
    try:
        out = template.render(dict(variables))
    except _MissingVariable as exc:
        given = ", ".join(sorted(variables)) or "none"
        raise TemplateError(
            f"{_label(name)}: variable {exc.name!r} is used but was not given "
            f'(given: {given}). Pass it, or write {{{{ {exc.name} | default("...") }}}}.',
            template=name or "",
            variable=exc.name,
        ) from None
    except UndefinedError as exc:
        raise TemplateError(f"{_label(name)}: {exc.message}", template=name or "") from None
    except SecurityError as exc:
        raise TemplateError(
            f"{_label(name)}: not allowed in a template: {exc}", template=name or ""
        ) from None
    if len(out) > MAX_RENDERED_LENGTH:
        raise TemplateError(
            f"{_label(name)}: rendered text is {len(out)} characters; the limit is {MAX_RENDERED_LENGTH}",
            template=name or "",
        )
    return out
