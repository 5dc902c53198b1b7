"""CloudFormation's intrinsic functions, evaluated over plain template values. Pure.

A `Scope` knows the parameters, pseudo parameters, mappings and conditions, and asks two callbacks for what only a
deploy knows: a resource's `Ref` value and its `Fn::GetAtt` attributes. Every error names where in the template it
happened (`Resources.Fn.Properties.Environment`), the way CloudFormation's validation messages do.

`references` finds what a value depends on (Ref, GetAtt and Sub variables naming resources), for the graph.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nimbus.errors import ValidationError

#: `${Name}`, `${Res.Attr}` and the literal `${!Text}` of Fn::Sub
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
#: the pseudo parameter that removes the property it is given to
NO_VALUE_NAME = "AWS::NoValue"
#: the condition functions (allowed in Conditions and in Fn::If's test)
CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"})


class _NoValue:
    """What `Ref: AWS::NoValue` evaluates to: removed from the mapping or list that holds it."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def fail(where: str, message: str) -> ValidationError:
    return ValidationError(f"Template error: {where}: {message}")


@dataclass
class Scope:
    """What intrinsics are evaluated against."""

    parameters: Mapping[str, Any]
    pseudo: Mapping[str, Any]
    mappings: Mapping[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    #: the logical ids of the template's resources (so a Ref to one is known even before it is made)
    resources: frozenset[str] = frozenset()
    #: `ref(logical_id)`: a resource's Ref value
    ref: Callable[[str], Any] = lambda name: name
    #: `att(logical_id, attribute, where)`: a resource's Fn::GetAtt value
    att: Callable[[str, str, str], Any] = lambda name, attr, where: f"{name}.{attr}"
    #: `import_value(name)`: another stack's Export
    import_value: Callable[[str], Any] | None = None
    #: the raw Conditions section, evaluated on first use
    condition_defs: Mapping[str, Any] = field(default_factory=dict)
    _evaluating: set[str] = field(default_factory=set)

    # ---- conditions ----
    def condition(self, name: Any, where: str) -> bool:
        if not isinstance(name, str) or (name not in self.conditions and name not in self.condition_defs):
            raise fail(where, f"Unresolved condition: {name!r} is not in Conditions")
        if name not in self.conditions:
            if name in self._evaluating:
                raise fail(where, f"Conditions: {name} depends on itself")
            self._evaluating.add(name)
            value = self.resolve(self.condition_defs[name], f"Conditions.{name}")
            self._evaluating.discard(name)
            if not isinstance(value, bool):
                raise fail(f"Conditions.{name}", "a condition must be a condition function (Fn::Equals, ...)")
            self.conditions[name] = value
        return self.conditions[name]

    def evaluate_conditions(self) -> dict[str, bool]:
        for name in self.condition_defs:
            self.condition(name, f"Conditions.{name}")
        return dict(self.conditions)

    # ---- values ----
    def resolve(self, value: Any, where: str) -> Any:
        """The value with every intrinsic evaluated and AWS::NoValue removed."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
                    return self._function(key, arg, where)
            out = {}
            for k, v in value.items():
                resolved = self.resolve(v, f"{where}.{k}")
                if resolved is not NO_VALUE:
                    out[k] = resolved
            return out
        if isinstance(value, list):
            items = (self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        return value

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise fail(where, "Ref takes the name of a parameter, pseudo parameter or resource")
        if name == NO_VALUE_NAME:
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.resources:
            return self.ref(name)
        raise fail(where, f"Unresolved resource dependency [{name}]: no parameter or resource of that name")

    def _function(self, key: str, arg: Any, where: str) -> Any:
        here = f"{where}.{key}"
        if key == "Ref":
            return self._ref(arg, here)
        if key == "Condition":
            return self.condition(arg, here)
        handler = _FUNCTIONS.get(key)
        if handler is None:
            raise fail(here, f"{key} is not supported")
        return handler(self, arg, here)

    def _strings(self, arg: Any, where: str, count: int | None = None) -> list[Any]:
        value = self.resolve(arg, where)
        if not isinstance(value, list) or (count is not None and len(value) != count):
            raise fail(where, f"expects a list{f' of {count}' if count else ''}")
        return value

    def get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        parts = self._strings(arg, where, 2)
        name, attribute = parts
        if name not in self.resources:
            raise fail(where, f"Unresolved resource dependency [{name}]: no resource of that name")
        return self.att(str(name), str(attribute), where)

    def sub(self, arg: Any, where: str) -> str:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[0], str) or not isinstance(arg[1], dict):
                raise fail(where, "Fn::Sub takes a string, or [string, {variable: value}]")
            text, variables = arg[0], {k: self.resolve(v, f"{where}.{k}") for k, v in arg[1].items()}
        elif isinstance(arg, str):
            text, variables = arg, {}
        else:
            raise fail(where, "Fn::Sub takes a string, or [string, {variable: value}]")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and name.split(".", 1)[0] in self.resources:
                value = self.get_att(name, where)
            else:
                value = self._ref(name.strip(), where)
            if isinstance(value, list | dict) or value is NO_VALUE:
                raise fail(where, f"${{{name}}} is not a string")
            return _text(value)

        return _SUB_VAR.sub(replace, text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _join(scope: Scope, arg: Any, where: str) -> str:
    if not isinstance(arg, list) or len(arg) != 2:
        raise fail(where, "Fn::Join takes [delimiter, [values]]")
    delimiter = scope.resolve(arg[0], where)
    items = scope._strings(arg[1], where)
    if any(isinstance(i, list | dict) for i in items):
        raise fail(where, "Fn::Join joins strings only")
    return str(delimiter).join(_text(i) for i in items)


def _select(scope: Scope, arg: Any, where: str) -> Any:
    if not isinstance(arg, list) or len(arg) != 2:
        raise fail(where, "Fn::Select takes [index, [values]]")
    index = scope.resolve(arg[0], where)
    items = scope._strings(arg[1], where)
    try:
        position = int(index)
    except (TypeError, ValueError):
        raise fail(where, f"Fn::Select's index must be a number (got {index!r})") from None
    if not 0 <= position < len(items):
        raise fail(where, f"Fn::Select's index {position} is out of range (the list has {len(items)} items)")
    return items[position]


def _split(scope: Scope, arg: Any, where: str) -> list[str]:
    if not isinstance(arg, list) or len(arg) != 2:
        raise fail(where, "Fn::Split takes [delimiter, string]")
    delimiter, source = scope.resolve(arg[0], where), scope.resolve(arg[1], where)
    if not isinstance(delimiter, str) or not delimiter or not isinstance(source, str):
        raise fail(where, "Fn::Split takes a non-empty delimiter and a string")
    return source.split(delimiter)


def _if(scope: Scope, arg: Any, where: str) -> Any:
    if not isinstance(arg, list) or len(arg) != 3:
        raise fail(where, "Fn::If takes [condition, value if true, value if false]")
    chosen = arg[1] if scope.condition(arg[0], where) else arg[2]
    return scope.resolve(chosen, where)


def _equals(scope: Scope, arg: Any, where: str) -> bool:
    a, b = scope._strings(arg, where, 2)
    return _text(a) == _text(b) if not isinstance(a, list | dict) else bool(a == b)


def _booleans(scope: Scope, arg: Any, where: str) -> list[bool]:
    values = scope._strings(arg, where)
    if not 1 <= len(values) <= 10 or not all(isinstance(v, bool) for v in values):
        raise fail(where, "takes 1 to 10 conditions")
    return values


def _find_in_map(scope: Scope, arg: Any, where: str) -> Any:
    name, top, second = scope._strings(arg, where, 3)
    try:
        return scope.mappings[name][top][second]
    except (KeyError, TypeError):
        raise fail(where, f"Fn::FindInMap: {name}/{top}/{second} is not in Mappings") from None


def _base64(scope: Scope, arg: Any, where: str) -> str:
    value = scope.resolve(arg, where)
    if not isinstance(value, str):
        raise fail(where, "Fn::Base64 takes a string")
    return base64.b64encode(value.encode()).decode()


def _get_azs(scope: Scope, arg: Any, where: str) -> list[str]:
    region = scope.resolve(arg, where) or scope.pseudo["AWS::Region"]
    return [f"{region}{zone}" for zone in "abc"]


def _import_value(scope: Scope, arg: Any, where: str) -> Any:
    name = scope.resolve(arg, where)
    if scope.import_value is None:
        raise fail(where, "Fn::ImportValue is not available here")
    return scope.import_value(str(name))


_FUNCTIONS: dict[str, Callable[[Scope, Any, str], Any]] = {
    "Fn::GetAtt": lambda s, a, w: s.get_att(a, w),
    "Fn::Sub": lambda s, a, w: s.sub(a, w),
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::And": lambda s, a, w: all(_booleans(s, a, w)),
    "Fn::Or": lambda s, a, w: any(_booleans(s, a, w)),
    "Fn::Not": lambda s, a, w: not _booleans(s, a, w)[0],
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": _base64,
    "Fn::GetAZs": _get_azs,
    "Fn::ImportValue": _import_value,
}


def references(value: Any, where: str, scope: Scope) -> Iterator[tuple[str, str]]:
    """(resource logical id, where) for each resource `value` refers to (Ref, Fn::GetAtt, Fn::Sub variables),
    following only the branch of each Fn::If its condition chooses."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from references(item, f"{where}[{i}]", scope)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((key, arg),) = value.items()
        here = f"{where}.{key}"
        if key == "Ref":
            known = arg == NO_VALUE_NAME or arg in scope.parameters or arg in scope.pseudo
            if isinstance(arg, str) and not known:
                yield arg, here
            return
        if key == "Fn::GetAtt":
            name = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg else None
            if isinstance(name, str):
                yield name, here
            return
        if key == "Fn::Sub":
            text, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
            if isinstance(variables, dict):
                yield from references(variables, here, scope)
            for name in _SUB_VAR.findall(text if isinstance(text, str) else ""):
                if name.startswith("!") or name in (variables if isinstance(variables, dict) else {}):
                    continue
                base = name.split(".", 1)[0].strip()
                if base not in scope.parameters and base not in scope.pseudo:
                    yield base, here
            return
        if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            chosen = arg[1] if scope.condition(arg[0], here) else arg[2]
            yield from references(chosen, here, scope)
            return
    for k, v in value.items():
        yield from references(v, f"{where}.{k}", scope)
