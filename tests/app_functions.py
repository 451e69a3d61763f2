"""The project's functions as the host indexes them, read once per test process.

azure-functions indexes a FunctionApp's blueprints on each get_functions() call and
refuses the second call (the names look duplicated); the host calls it once, and so do the tests.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def app_functions() -> tuple[Any, ...]:
    import function_app

    return tuple(function_app.app.get_functions())


def event_grid_function_names() -> set[str]:
    return {f.get_function_name() for f in app_functions()
            if any(b.type == "eventGridTrigger" for b in f.get_bindings())}
