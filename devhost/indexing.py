"""Import a Python v2 function app and read its functions' binding metadata,
the way the Python worker indexes `function_app.py`."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.functions.decorators.function_app import FunctionRegister

from devhost.settings import ConfigError

HTTP_TRIGGER = "httpTrigger"
EVENTGRID_TRIGGER = "eventGridTrigger"
DURABLE_TRIGGERS = frozenset({"orchestrationTrigger", "activityTrigger", "entityTrigger"})
DURABLE_CLIENT = "durableClient"
# Non-trigger bindings devhost can supply: the HTTP response and the durable client.
SUPPORTED_BINDINGS = frozenset({"http", DURABLE_CLIENT})
ALL_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")


@dataclass
class FunctionInfo:
    """One indexed function: its callable and what its bindings say."""

    name: str
    trigger_type: str
    trigger_name: str
    bindings: list[dict[str, Any]]
    callable: Any
    raw: Any  # the azure.functions Function object, for the durable runtime
    route: str | None = None
    methods: tuple[str, ...] = ()
    auth_level: str = "function"
    unsupported: list[str] = field(default_factory=list)

    @property
    def durable_client_names(self) -> list[str]:
        return [b["name"] for b in self.bindings if b.get("type") == DURABLE_CLIENT]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "trigger": self.trigger_type}
        if self.trigger_type == HTTP_TRIGGER:
            out.update(route=self.route, methods=list(self.methods), authLevel=self.auth_level)
        if self.unsupported:
            out["unsupported"] = self.unsupported
        return out


def import_function_app(app_dir: Path) -> Any:
    """Import app_dir/function_app.py as the module `function_app` and return its one
    FunctionApp/DFApp/Blueprint-registering instance, as the worker requires."""
    script = app_dir / "function_app.py"
    if not script.is_file():
        raise ConfigError(f"{script} does not exist: --app-dir must hold a v2 function_app.py")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    apps = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
    if len(apps) != 1:
        raise ConfigError(f"{script} must define exactly one FunctionApp instance at module level, "
                          f"found {len(apps)}")
    return apps[0]


def index_functions(app: Any) -> list[FunctionInfo]:
    functions: list[FunctionInfo] = []
    seen: set[str] = set()
    for fn in app.get_functions():
        info = describe(fn)
        if info.name.lower() in seen:
            raise ConfigError(f"two functions are named {info.name!r}")
        seen.add(info.name.lower())
        functions.append(info)
    return functions


def describe(fn: Any) -> FunctionInfo:
    bindings = [json.loads(raw) for raw in fn.get_raw_bindings()]
    trigger = fn.get_trigger()
    trigger_dict = json.loads(json.dumps(trigger.get_dict_repr(), default=str)) if trigger else {}
    trigger_type = trigger_dict.get("type", "")
    info = FunctionInfo(
        name=fn.get_function_name(),
        trigger_type=trigger_type,
        trigger_name=trigger_dict.get("name", ""),
        bindings=bindings,
        callable=fn.get_user_function(),
        raw=fn,
    )
    if trigger_type == HTTP_TRIGGER:
        info.route = str(trigger_dict.get("route") or info.name)
        methods = trigger_dict.get("methods") or ALL_METHODS
        info.methods = tuple(str(m).upper() for m in methods)
        info.auth_level = str(trigger_dict.get("authLevel") or "function").lower()
    elif trigger_type not in (EVENTGRID_TRIGGER, *DURABLE_TRIGGERS):
        info.unsupported.append(f"trigger type {trigger_type!r}")
    for binding in bindings:
        kind = binding.get("type", "")
        if binding is not None and kind != trigger_type and kind not in SUPPORTED_BINDINGS:
            info.unsupported.append(f"binding {binding.get('name')!r} of type {kind!r}")
    return info
