"""Reading the Bicep templates offline with pycep-parser (no Bicep CLI here).

pycep turns a .bicep file into JSON-like dicts: parameters, variables, resources
and modules by symbolic name. A reference to a parameter or variable comes back
as its bare name (a string), an interpolated string keeps its `${...}` text, and
quoted object keys keep their quotes; the helpers below undo that where the
checks need plain values.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
MODULES = INFRA / "modules"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def module(name: str) -> dict[str, Any]:
    return parse(MODULES / f"{name}.bicep")


def variable(template: dict[str, Any], name: str) -> Any:
    return template["variables"][name]["value"]


def key(raw: str) -> str:
    """An object key as written: `'a-b'` → a-b, `name` → name."""
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == "'" else raw


def object_keys(value: dict[str, Any]) -> set[str]:
    return {key(k) for k in value}


def param_default(template: dict[str, Any], name: str) -> Any:
    return template["parameters"][name]["default"]


def main_module_params(symbol: str) -> dict[str, Any]:
    """The params main.bicep passes to one of its modules (by symbolic name)."""
    entry = parse(MAIN)["modules"][symbol]
    config = entry["config"]
    # A conditional module (`= if (...) {...}`) nests its body one level deeper.
    if "config" in config and "params" not in config:
        config = config["config"]
    return dict(config["params"])


def module_path(symbol: str) -> Path:
    return (INFRA / parse(MAIN)["modules"][symbol]["detail"]["path"]).resolve()


def resolve(text: str, values: dict[str, str]) -> str:
    """Substitute `${name}` with values[name]; KeyError for an unknown name."""
    return _INTERPOLATION.sub(lambda m: values[m.group(1)], text)


def main_default_for(module_symbol: str, module_param: str) -> str:
    """The value main.bicep gives a module param when the main param keeps its default.

    main.bicep passes a main param by name (a bare identifier in pycep's output).
    """
    passed = main_module_params(module_symbol)[module_param]
    main_params = parse(MAIN)["parameters"]
    if not isinstance(passed, str) or passed not in main_params:
        raise AssertionError(f"main.bicep passes {module_param} to {module_symbol} as {passed!r}, "
                             "not as one of its own parameters")
    default = main_params[passed]["default"]
    if not isinstance(default, str):
        raise AssertionError(f"main.bicep param {passed} has no string default")
    return default
