"""The render pipeline's Functions app: it only registers the blueprints.

Runs unchanged in Azure Functions and on devhost (python -m devhost --app-dir .).
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from activities.render_steps import bp as render_steps
from orchestrators.render_job import bp as render_job
from triggers.api import bp as api
from triggers.assets_api import bp as assets_api
from triggers.control_api import bp as control_api
from triggers.openapi import bp as openapi
from triggers.upload_api import bp as upload_api
from triggers.uploads import bp as uploads
from triggers.watch_api import bp as watch_api
from triggers.web_ui import bp as web_ui

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (api, uploads, web_ui, render_job, render_steps, openapi, upload_api, watch_api,
                  control_api, assets_api):
    app.register_functions(blueprint)
