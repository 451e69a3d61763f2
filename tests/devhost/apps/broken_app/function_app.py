"""An app whose import fails: devhost must say so and exit non-zero."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()

raise RuntimeError("function_app.py failed to import on purpose")
