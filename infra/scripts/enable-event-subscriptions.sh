#!/bin/sh
# azd postdeploy hook: create the Event Grid subscriptions once the functions exist.
#
# An Event Grid subscription with an AzureFunction destination is validated
# against the function when it is created, and azd provisions infra before it
# deploys code. So the first provision runs with deployEventSubscriptions=false;
# after the first successful deploy this hook flips DEPLOY_EVENT_SUBSCRIPTIONS in
# the azd environment and provisions again (an incremental deployment that only
# adds the subscriptions). Later `azd up` runs include them from the start.
set -eu

if [ "${DEPLOY_EVENT_SUBSCRIPTIONS:-false}" = "true" ]; then
  echo "Event Grid subscriptions are already part of this environment's provisioning."
  exit 0
fi

azd env set DEPLOY_EVENT_SUBSCRIPTIONS true
# The function list of a freshly deployed Flex app can lag the deployment by a
# little; retry before giving up.
attempt=1
until azd provision --no-prompt; do
  if [ "$attempt" -ge 3 ]; then
    azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
    echo "Could not create the Event Grid subscriptions; run 'azd hooks run postdeploy' to retry." >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  echo "Retrying in 60 s (attempt ${attempt} of 3)..."
  sleep 60
done
