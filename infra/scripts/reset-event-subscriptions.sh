#!/bin/sh
# azd postdown hook: after `azd down` the functions are gone, so the next
# `azd up` in this environment must provision without the Event Grid
# subscriptions again (the postdeploy hook turns them back on).
set -eu
azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
