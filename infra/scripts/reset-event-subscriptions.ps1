# azd postdown hook (Windows): see reset-event-subscriptions.sh.
$ErrorActionPreference = 'Stop'
azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
