"""HTTP trigger route templates as the Functions host (ASP.NET Core routing) reads them:
literal segments, {name}, {name?} (optional, last), {*name} (catch-all), {name=default},
and inline constraints such as {id:int}, {id:guid}, {name:alpha:maxlength(8)},
{n:range(1,10)}, {code:regex(^[a-z]+$)}."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from devhost.settings import ConfigError


def _is_int(v: str, bits: int) -> bool:
    if not re.fullmatch(r"[+-]?\d+", v):
        return False
    return -(2 ** (bits - 1)) <= int(v) < 2 ** (bits - 1)


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return bool(re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", v))


def _is_decimal(v: str) -> bool:
    try:
        Decimal(v)
    except InvalidOperation:
        return False
    return _is_float(v)


def _is_datetime(v: str) -> bool:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_guid(v: str) -> bool:
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


SIMPLE_CONSTRAINTS: dict[str, Callable[[str], bool]] = {
    "int": lambda v: _is_int(v, 32),
    "long": lambda v: _is_int(v, 64),
    "bool": lambda v: v.lower() in ("true", "false"),
    "datetime": _is_datetime,
    "decimal": _is_decimal,
    "double": _is_float,
    "float": _is_float,
    "guid": _is_guid,
    "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
    "required": lambda v: v != "",
}


def _numbers(args: str, count: int, name: str) -> list[int]:
    parts = [a.strip() for a in args.split(",")]
    if len(parts) != count or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise ConfigError(f"route constraint {name}({args}) needs {count} whole number(s)")
    return [int(p) for p in parts]


def build_constraint(text: str) -> Callable[[str], bool]:
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", text, re.S)
    if not match:
        raise ConfigError(f"route constraint {text!r} is not understood")
    name, args = match.group(1).lower(), match.group(2)
    if args is None and name in SIMPLE_CONSTRAINTS:
        return SIMPLE_CONSTRAINTS[name]
    if args is None:
        raise ConfigError(f"route constraint {text!r} is not supported")
    if name == "regex":
        pattern = re.compile(args, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    if name in ("minlength", "maxlength", "min", "max"):
        (n,) = _numbers(args, 1, name)
        return {
            "minlength": lambda v: len(v) >= n,
            "maxlength": lambda v: len(v) <= n,
            "min": lambda v: _is_int(v, 64) and int(v) >= n,
            "max": lambda v: _is_int(v, 64) and int(v) <= n,
        }[name]
    if name == "length":
        nums = _numbers(args, 2 if "," in args else 1, name)
        low, high = (nums[0], nums[0]) if len(nums) == 1 else (nums[0], nums[1])
        return lambda v: low <= len(v) <= high
    if name == "range":
        low, high = _numbers(args, 2, name)
        return lambda v: _is_int(v, 64) and low <= int(v) <= high
    raise ConfigError(f"route constraint {text!r} is not supported")


@dataclass
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: list[Callable[[str], bool]] = field(default_factory=list)


PARAM = re.compile(r"\{([^{}]*(?:\([^)]*\))?[^{}]*)\}")


def _parse_parameter(body: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default = None
    # The name ends at the first ':', '?' or '='; constraints may contain any of them in (...).
    head = re.match(r"[^:?=]+", body)
    if not head:
        raise ConfigError(f"route parameter {{{body}}} has no name")
    name, rest = head.group(0).strip(), body[head.end():]
    optional = False
    constraints: list[Callable[[str], bool]] = []
    while rest:
        if rest.startswith(":"):
            m = re.match(r":(\w+(?:\((?:[^()]|\([^()]*\))*\))?)", rest)
            if not m:
                raise ConfigError(f"route parameter {{{body}}}: bad constraint")
            constraints.append(build_constraint(m.group(1)))
            rest = rest[m.end():]
        elif rest == "?":
            optional, rest = True, ""
        elif rest.startswith("="):
            default, rest = rest[1:], ""
        else:
            raise ConfigError(f"route parameter {{{body}}} is not understood")
    if not re.fullmatch(r"\w+", name):
        raise ConfigError(f"route parameter name {name!r} is not valid")
    return Parameter(name, optional or default is not None, catch_all, default, constraints)


@dataclass
class Route:
    """A compiled route template; match() gives the route params or None."""

    template: str
    regex: re.Pattern[str]
    params: list[Parameter]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        if not found:
            return None
        values: dict[str, str] = {}
        for index, param in enumerate(self.params):
            value = found.group(f"p{index}")
            if value is None or value == "":
                if param.default is not None:
                    values[param.name] = param.default
                elif not param.optional and not param.catch_all:
                    return None
                continue
            if not all(check(value) for check in param.constraints):
                return None
            values[param.name] = value
        return values


def compile_route(template: str) -> Route:
    text = template.strip().strip("/")
    segments = text.split("/") if text else []
    params: list[Parameter] = []
    pattern = ""
    ranks: list[int] = []
    for position, segment in enumerate(segments):
        pieces = PARAM.split(segment)  # literal, param, literal, param, ...
        seg_regex = ""
        seg_params = 0
        optional_segment = False
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                seg_regex += re.escape(piece)
                continue
            param = _parse_parameter(piece)
            seg_params += 1
            group = f"p{len(params)}"
            if param.catch_all:
                if position != len(segments) - 1:
                    raise ConfigError(f"route {template!r}: a catch-all parameter must be last")
                seg_regex += f"(?P<{group}>.*)"
                optional_segment = True
            elif param.optional and len(pieces) == 3 and not pieces[0] and not pieces[2]:
                seg_regex += f"(?P<{group}>[^/]+)"
                optional_segment = True
            else:
                seg_regex += f"(?P<{group}>[^/]+)"
            params.append(param)
        if seg_params == 0:
            ranks.append(1)
        elif any(p.catch_all for p in params[-seg_params:]):
            ranks.append(5)
        elif len(pieces) > 3 or pieces[0] or pieces[-1]:
            ranks.append(2)
        else:
            ranks.append(3 if params[-1].constraints else 4)
        sep = "/" if position else ""
        pattern += f"(?:{sep}{seg_regex})?" if optional_segment else f"{sep}{seg_regex}"
    names = [p.name.lower() for p in params]
    if len(set(names)) != len(names):
        raise ConfigError(f"route {template!r} repeats a parameter name")
    # DOTALL: a decoded %0A is an ordinary character of a segment, as in ASP.NET routing.
    return Route(template, re.compile(pattern, re.IGNORECASE | re.DOTALL), params, tuple(ranks))


def precedence_key(route: Route) -> tuple[tuple[int, ...], int]:
    """ASP.NET order: segment by segment, literal < complex < constrained < plain < catch-all."""
    return (route.precedence, -len(route.precedence))
