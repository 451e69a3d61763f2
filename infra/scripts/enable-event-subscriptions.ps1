# azd postdeploy hook (Windows): see enable-event-subscriptions.sh for why.
$ErrorActionPreference = 'Stop'

if ($env:DEPLOY_EVENT_SUBSCRIPTIONS -eq 'true') {
  Write-Host "Event Grid subscriptions are already part of this environment's provisioning."
  exit 0
}

azd env set DEPLOY_EVENT_SUBSCRIPTIONS true
for ($attempt = 1; $attempt -le 3; $attempt++) {
  azd provision --no-prompt
  if ($LASTEXITCODE -eq 0) { exit 0 }
  if ($attempt -lt 3) {
    Write-Host "Retrying in 60 s (attempt $($attempt + 1) of 3)..."
    Start-Sleep -Seconds 60
  }
}
azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
Write-Error "Could not create the Event Grid subscriptions; run 'azd hooks run postdeploy' to retry."
exit 1
