"""Happy-path structure functions: cattrs' lean function with its hooks' fast branches inlined.

cattrs' lean structure function for a model calls one hook per field (``_values.s_*``), and
those calls, not the model's ``__init__``, are most of a conversion. :func:`happy_path` writes,
from the same attrs fields and the same converter's hooks, one straight-line function per
model that does what the lean function does with each hook's fast branch inlined
(``_values.FAST_BRANCHES``): a float field's float is read in place, any other value still goes
to the hook. It therefore returns what the lean function returns and raises where it raises
(a missing required key, a hook's error); on any exception it hands the data to the lean
function itself (``fallback``), and a failure there reaches cattrs' detailed function, which
names the failing field as before.

Two options fit the converter's pre-passes: ``given`` fields take their wire value as an
argument instead of from the dict (as if the caller had set ``data[name]`` in a copy), and
``skipped`` fields are never read (as if popped from it), so a pre-pass need not copy the frame.
"""

from __future__ import annotations

import functools
import linecache
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from bluecurrent_sync._values import FAST_BRANCHES, FastBranch

__all__ = ["happy_path", "nested_branch"]

_T = TypeVar("_T")


def happy_path(
    cls: type[_T],
    hook_for: Callable[[Any], Callable[[Any, Any], Any]],
    *,
    fallback: Callable[[Any, type], _T] | None = None,
    branches: Mapping[Any, FastBranch] = FAST_BRANCHES,
    given: Iterable[str] = (),
    skipped: Iterable[str] = (),
) -> Callable[..., _T]:
    """Write ``cls``'s happy-path structure function.

    Args:
        cls: An attrs class whose fields are keyword arguments (``kw_only``).
        hook_for: The converter's hook for a type (``cattrs.Converter.get_structure_hook``).
        fallback: cattrs' structure function for ``cls``; when given, the function is a
            drop-in for it, ``fn(data, cls)``, that hands it ``data`` on any exception.
        branches: The fast branch of each hook that has one (default: the ``_values`` hooks').
        given: Fields whose wire value is passed as an argument, in this order, after the dict
            (not with ``fallback``: a given value is not in the data).
        skipped: Fields with a default that are never read (not with ``fallback``).

    Returns:
        ``fn(data, *given_values) -> cls``, or ``fn(data, cls) -> cls`` with ``fallback``.

    Raises:
        ValueError: A skipped field without a default, or a default made by a factory (the
            lean function's own defaults are then not plain values to copy).
    """
    given = tuple(given)
    skipped = frozenset(skipped)
    if fallback is not None and (given or skipped):
        raise ValueError("a fallback takes the same data: no given or skipped fields")
    model: Any = cls  # an attrs class (attrs' types cannot say so of a type variable)
    attrs.resolve_types(model)
    namespace: dict[str, Any] = {"type": type, "float": float, "_cls": cls}
    body: list[str] = []
    arguments: list[str] = []
    for index, field in enumerate(attrs.fields(model)):
        if field.name in skipped:
            if field.default is attrs.NOTHING:
                raise ValueError(f"{cls.__name__}.{field.name} has no default to skip to")
            continue
        if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            raise ValueError(f"{cls.__name__}.{field.name}: a factory default")
        target, hook, kind = f"f{index}", f"_h{index}", f"_t{index}"
        namespace[hook] = hook_for(field.type)
        namespace[kind] = field.type
        branch = branches.get(namespace[hook])
        if branch is not None:
            namespace.update(branch.names)
            read = branch.code.format(x=target, h=hook, t=kind).splitlines()
        else:
            read = [f"{target} = {hook}(v, {kind})"]
        key = repr(field.name)
        if field.name in given:
            body.append(f"v = {_argument(given, field.name)}")
            body.extend(read)
        elif field.default is attrs.NOTHING:
            body.append(f"v = o[{key}]")
            body.extend(read)
        elif field.default is None and branch is not None and branch.null_is_none:
            body.append(f"v = o.get({key})")
            body.extend(read)
        else:
            default = f"_d{index}"
            namespace[default] = field.default
            body.append(f"if {key} in o:")
            body.append(f"    v = o[{key}]")
            body.extend(f"    {line}" for line in read)
            body.append("else:")
            body.append(f"    {target} = {default}")
        arguments.append(f"{field.alias}={target}")
    unknown = set(given) - {field.name for field in attrs.fields(model)}
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
    name = f"happy_path_{cls.__name__}"
    made = f"return _cls({', '.join(arguments)})"
    if fallback is None:
        params = ", ".join(["o", *(_argument(given, field) for field in given)])
        lines = [f"def {name}({params}):", *(f"    {line}" for line in [*body, made])]
    else:
        namespace["_fallback"] = fallback
        lines = [
            f"def {name}(o, _=None):",
            "    try:",
            *(f"        {line}" for line in [*body, made]),
            "    except Exception:",  # outside the handler: its error has no context of ours
            "        pass",
            "    return _fallback(o, _cls)",
        ]
    source = "\n".join(lines) + "\n"
    # Built above from attrs field names and fixed templates, never from data.
    filename = f"<bluecurrent_sync happy path {cls.__name__} {zlib.crc32(source.encode()):08x}>"
    exec(_compiled(source, filename), namespace)  # noqa: S102
    fn: Callable[..., _T] = namespace[name]
    return fn


@functools.lru_cache(maxsize=32)
def _compiled(source: str, filename: str) -> Any:
    """``source`` compiled once per process, its text registered for tracebacks (one entry per
    source, named by its checksum: every converter writes the same few)."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec")


def nested_branch(cls: type, happy: Callable[[Any, type], Any]) -> FastBranch:
    """The fast branch of a ``cls | None`` hook that structures a dict as ``happy`` does.

    For a hook that gives None for None and, for a dict, what cattrs' own function for
    ``cls`` gives (``happy`` is ``cls``'s happy-path function in front of it).
    """
    name = f"_happy_{cls.__name__}"
    code = (
        f"if type(v) is dict:\n    {{x}} = {name}(v)\n"
        "elif v is None:\n    {x} = None\n"
        "else:\n    {x} = {h}(v, {t})\n"
    )
    return FastBranch(code, {name: happy}, null_is_none=True)


def _argument(given: tuple[str, ...], name: str) -> str:
    return f"g{given.index(name)}"
