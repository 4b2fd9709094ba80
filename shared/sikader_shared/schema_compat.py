"""Compatibility of two JSON Schemas of the same event type and major version.

An event published under a new schema must still be readable by a consumer built against the
old one, and a retained event published under the old schema must still be readable under
the new one. So within a major version a schema may only:
- add an optional property,
- add an enum (Literal) value,
- widen a constraint (a longer maxLength, a lower minimum...),
- change annotations (title, description, examples).

Everything else is reported: a removed property, a changed type or format (including a field
that became or stopped being nullable), a property that became required, a new required
property, a removed enum value, an enum where there was none, a narrowed or new constraint
(length, range, pattern, multipleOf, item counts, additionalProperties), a changed default,
and a changed topic or aggregate field in the `x-sikader` metadata. The comparison follows
`$ref`s into `$defs` and recurses into nested objects, arrays and unions (anyOf / oneOf).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$comment"})
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_META_KEYS = ("topic", "aggregate_field", "ce_type", "version", "restricted")

_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: bool is a subclass of int
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (type(None), "null"),
    (dict, "object"),
    (list, "array"),
)

_Kind = tuple[str, str | None]  # (JSON type, format)


def incompatibilities(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Every change from `old_schema` to `new_schema` that breaks compatibility within a
    major version, one readable line each ("$.path: what"). Empty when compatible."""
    return _Comparer(old_schema, new_schema).run()


def is_compatible(old_schema: Schema, new_schema: Schema) -> bool:
    return not incompatibilities(old_schema, new_schema)


class _Comparer:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []
        self._seen: set[tuple[str, str]] = set()

    def run(self) -> list[str]:
        self._compare_meta()
        self._node(self.old_root, self.new_root, "$")
        return self.problems

    def _report(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    # ------------------------------------------------------------------ metadata

    def _compare_meta(self) -> None:
        old_meta = self.old_root.get("x-sikader") or {}
        new_meta = self.new_root.get("x-sikader") or {}
        for key in _META_KEYS:
            if key in old_meta and old_meta.get(key) != new_meta.get(key):
                self._report(
                    "x-sikader",
                    f"changed {key} {old_meta.get(key)!r} -> {new_meta.get(key)!r}",
                )

    # ------------------------------------------------------------------ nodes

    def _node(self, old: Schema, new: Schema, path: str) -> None:
        if "default" in old and "default" in new and old["default"] != new["default"]:
            self._report(path, f"changed default {old['default']!r} -> {new['default']!r}")

        old_branches = _expand(old, self.old_root)
        new_branches = _expand(new, self.new_root)
        old_kinds = sorted({_kind(b) for b, _ in old_branches}, key=_kind_sort)
        new_kinds = sorted({_kind(b) for b, _ in new_branches}, key=_kind_sort)
        if old_kinds != new_kinds:
            self._report(path, f"changed type {_kinds_text(old_kinds)} -> {_kinds_text(new_kinds)}")
            return
        for kind in old_kinds:
            olds = [(b, r) for b, r in old_branches if _kind(b) == kind]
            news = [(b, r) for b, r in new_branches if _kind(b) == kind]
            if len(olds) != len(news):
                self._report(
                    path,
                    f"changed number of {_kinds_text([kind])} alternatives {len(olds)} -> {len(news)}",
                )
                continue
            for (ob, oref), (nb, nref) in _pair(olds, news):
                if oref is not None and nref is not None:
                    if (oref, nref) in self._seen:
                        continue
                    self._seen.add((oref, nref))
                self._branch(ob, nb, kind[0], path)

    def _branch(self, old: Schema, new: Schema, json_type: str, path: str) -> None:
        self._enum(old, new, path)
        self._bounds(old, new, path)
        if "pattern" in new and new["pattern"] != old.get("pattern"):
            what = "changed" if "pattern" in old else "new"
            self._report(path, f"{what} pattern {new['pattern']!r}")
        if "multipleOf" in new and new["multipleOf"] != old.get("multipleOf"):
            self._report(path, f"changed multipleOf {old.get('multipleOf')} -> {new['multipleOf']}")
        if json_type == "object" or "properties" in old or "properties" in new:
            self._object(old, new, path)
        if json_type == "array" or "items" in old or "items" in new:
            self._array(old, new, path)

    def _enum(self, old: Schema, new: Schema, path: str) -> None:
        old_values = _enum_values(old)
        new_values = _enum_values(new)
        if new_values is None:
            return
        if old_values is None:
            self._report(path, f"now restricted to the values {_values_text(new_values)}")
            return
        removed = [v for v in old_values if v not in new_values]
        if removed:
            self._report(path, f"removed enum value(s) {_values_text(removed)}")

    def _bounds(self, old: Schema, new: Schema, path: str) -> None:
        for key in _LOWER_BOUNDS:
            if key in new and (key not in old or new[key] > old[key]):
                self._report(path, f"narrowed {key} {old.get(key)} -> {new[key]}")
        for key in _UPPER_BOUNDS:
            if key in new and (key not in old or new[key] < old[key]):
                self._report(path, f"narrowed {key} {old.get(key)} -> {new[key]}")
        if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
            self._report(path, "items must now be unique")

    def _object(self, old: Schema, new: Schema, path: str) -> None:
        old_props: dict[str, Schema] = old.get("properties") or {}
        new_props: dict[str, Schema] = new.get("properties") or {}
        old_required = set(old.get("required") or ())
        new_required = set(new.get("required") or ())
        for name, old_prop in old_props.items():
            sub = f"{path}.{name}"
            if name not in new_props:
                self._report(sub, "property removed")
                continue
            self._node(old_prop, new_props[name], sub)
        for name in sorted(new_required - old_required):
            if name in old_props:
                self._report(f"{path}.{name}", "property became required")
            else:
                self._report(f"{path}.{name}", "new required property")

        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            self._report(path, "additional properties no longer allowed")
        elif isinstance(new_extra, dict):
            if isinstance(old_extra, dict):
                self._node(old_extra, new_extra, f"{path}.*")
            elif old_extra is True and new_extra:
                self._report(path, "additional properties now restricted by a schema")

    def _array(self, old: Schema, new: Schema, path: str) -> None:
        old_items = old.get("items")
        new_items = new.get("items")
        if isinstance(new_items, dict) and new_items:
            if isinstance(old_items, dict):
                self._node(old_items, new_items, f"{path}[]")
            else:
                self._report(path, "array items now restricted by a schema")
        old_prefix: list[Schema] = old.get("prefixItems") or []
        new_prefix: list[Schema] = new.get("prefixItems") or []
        for i, (o, n) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self._node(o, n, f"{path}[{i}]")
        if len(new_prefix) > len(old_prefix):
            self._report(path, f"new tuple positions {len(old_prefix)} -> {len(new_prefix)}")
        elif len(new_prefix) < len(old_prefix):
            self._report(path, f"removed tuple positions {len(old_prefix)} -> {len(new_prefix)}")


# ---------------------------------------------------------------------- helpers


def _resolve(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        return {"x-external-ref": ref}
    node: Any = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {"x-unresolved-ref": ref}
        node = node[part]
    return node if isinstance(node, dict) else {"x-unresolved-ref": ref}


def _expand(node: Schema, root: Schema, ref: str | None = None, depth: int = 0) -> list[tuple[Schema, str | None]]:
    """The alternatives a (sub)schema accepts, each with no $ref, allOf, anyOf, oneOf or
    list-valued type left at its top, paired with the $ref it came from (if any)."""
    if depth > 64:
        return [(node, ref)]
    if "$ref" in node:
        target_ref = str(node["$ref"])
        target = _resolve(root, target_ref)
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _expand(merged, root, target_ref, depth + 1)
    if "allOf" in node:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            for sub, sub_ref in _expand(part, root, None, depth + 1):
                ref = ref or sub_ref
                merged = _merge(merged, sub)
        return _expand(merged, root, ref, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in node:
            rest = {k: v for k, v in node.items() if k != key and k not in _ANNOTATIONS}
            out: list[tuple[Schema, str | None]] = []
            for alternative in node[key]:
                out.extend(_expand({**rest, **alternative}, root, None, depth + 1))
            return out
    json_type = node.get("type")
    if isinstance(json_type, list):
        return [({**node, "type": t}, ref) for t in json_type]
    return [(node, ref)]


def _merge(a: Schema, b: Schema) -> Schema:
    out = dict(a)
    for key, value in b.items():
        if key == "properties":
            out["properties"] = {**(out.get("properties") or {}), **value}
        elif key == "required":
            out["required"] = sorted(set(out.get("required") or ()) | set(value))
        else:
            out.setdefault(key, value)
    return out


def _json_type_of(value: Any) -> str:
    for py_type, name in _JSON_TYPES:
        if isinstance(value, py_type):
            return name
    return "any"


def _kind(branch: Schema) -> _Kind:
    json_type = branch.get("type")
    if not isinstance(json_type, str):
        values = _enum_values(branch)
        if values is not None:
            types = {_json_type_of(v) for v in values}
            json_type = types.pop() if len(types) == 1 else "any"
        elif "properties" in branch or "additionalProperties" in branch:
            json_type = "object"
        elif "items" in branch or "prefixItems" in branch:
            json_type = "array"
        else:
            json_type = "any"
    fmt = branch.get("format")
    return (json_type, fmt if isinstance(fmt, str) else None)


def _kind_sort(kind: _Kind) -> tuple[str, str]:
    return (kind[0], kind[1] or "")


def _kinds_text(kinds: list[_Kind]) -> str:
    return "|".join(f"{t}({f})" if f else t for t, f in kinds) or "nothing"


def _enum_values(branch: Schema) -> list[Any] | None:
    if "enum" in branch:
        return list(branch["enum"])
    if "const" in branch:
        return [branch["const"]]
    return None


def _values_text(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def _pair(
    olds: list[tuple[Schema, str | None]], news: list[tuple[Schema, str | None]]
) -> list[tuple[tuple[Schema, str | None], tuple[Schema, str | None]]]:
    """Pairs alternatives of the same kind: by title when every one has a distinct title,
    else by position."""
    old_titles = [b.get("title") for b, _ in olds]
    new_titles = [b.get("title") for b, _ in news]
    if (
        None not in old_titles
        and len(set(old_titles)) == len(old_titles)
        and sorted(map(str, old_titles)) == sorted(map(str, new_titles))
    ):
        by_title = {b.get("title"): (b, r) for b, r in news}
        return [((b, r), by_title[b.get("title")]) for b, r in olds]
    return list(zip(olds, news, strict=True))
