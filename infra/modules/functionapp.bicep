// The Functions app on a Flex Consumption plan (Linux, Python 3.11), with a
// user-assigned managed identity for everything it talks to: host storage and
// the Durable task hub, the deployment package, Cosmos DB, Batch, Event Grid and
// Application Insights. No connection strings or keys are stored in settings.
//
// The app settings below are the only place infra sets them: `platformSettings`
// are read by the Functions host and the Azure SDKs, `pipelineSettings` and
// `tuningDefaults` by shared/config.py (tests/infra checks both lists against
// Settings.env_keys()).

@description('Name of the Function app (also its default host name prefix).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region for the plan and the app.')
param location string

@description('Tags applied to the plan and the app (the app also gets azd-service-name).')
param tags object = {}

@description('Service name in azure.yaml that azd deploys to this app.')
param serviceName string = 'api'

@description('Resource id of the Function app user-assigned identity.')
param identityId string

@description('Client id of the Function app user-assigned identity.')
param identityClientId string

@description('Name of the storage account used by the host, the task hub and the pipeline containers.')
param storageAccountName string

@description('Blob endpoint of that account (STORAGE_ACCOUNT_URL).')
param storageAccountUrl string

@description('URL of the blob container Flex Consumption deploys the app package to.')
param deploymentContainerUrl string

@description('Application Insights connection string.')
param appInsightsConnectionString string

@description('Scene bundle container (SCENES_CONTAINER).')
param scenesContainerName string

@description('Render output container (RENDERS_CONTAINER).')
param rendersContainerName string

@description('Cosmos DB endpoint (COSMOS_ENDPOINT).')
param cosmosEndpoint string

@description('Cosmos DB database (COSMOS_DATABASE).')
param cosmosDatabaseName string

@description('Cosmos DB container (COSMOS_CONTAINER).')
param cosmosContainerName string

@description('Cosmos DB container of chunk pages (COSMOS_CHUNKS_CONTAINER).')
param cosmosChunksContainerName string

@description('Batch account URL (BATCH_ACCOUNT_URL).')
param batchAccountUrl string

@description('Batch pool id (BATCH_POOL_ID).')
param batchPoolId string

@description('Resource id of the pool identity that tasks use for storage (BATCH_NODE_IDENTITY_ID).')
param batchNodeIdentityId string

@description('Job lifecycle Event Grid topic endpoint (EVENTGRID_TOPIC_ENDPOINT).')
param eventGridTopicEndpoint string

@description('Overrides for the pipeline tuning settings in tuningDefaults (same keys, string values).')
param pipelineTuning object = {}

@description('Most instances Flex Consumption may scale the app out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance in MB (Flex Consumption sizes: 512, 2048, 4096).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
@description('Put the app behind App Service authentication (Easy Auth) with Microsoft Entra ID: the dashboard signs users in and shows who they are, and jobs record the signed-in user as submitter (TRUST_APP_SERVICE_AUTH). Function keys stay required on the API.')
param appServiceAuthEnabled bool = false

@description('With appServiceAuthEnabled: application (client) id of the Entra ID app registration users sign in to (redirect URI https://<app>.azurewebsites.net/.auth/login/aad/callback, ID tokens enabled).')
param appServiceAuthClientId string = ''

@description('With appServiceAuthEnabled: Entra ID tenant the users sign in from.')
param appServiceAuthTenantId string = subscription().tenantId

// Read by the Functions host and the Azure SDKs, not by shared/config.py.
var platformSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identityClientId
}

// Read by shared/config.py. Local-only keys (connection strings, keys,
// LOCALBATCH_URL) are deliberately absent: in Azure everything is identity-based.
var pipelineSettings = {
  STORAGE_ACCOUNT_URL: storageAccountUrl
  SCENES_CONTAINER: scenesContainerName
  RENDERS_CONTAINER: rendersContainerName
  ASSETS_CONTAINER: 'assets' // storage.bicep's assetsContainerName
  COSMOS_ENDPOINT: cosmosEndpoint
  COSMOS_DATABASE: cosmosDatabaseName
  COSMOS_CONTAINER: cosmosContainerName
  COSMOS_CHUNKS_CONTAINER: cosmosChunksContainerName
  COSMOS_VERIFY_TLS: 'true'
  RENDER_BACKEND: 'azure_batch'
  BATCH_ACCOUNT_URL: batchAccountUrl
  BATCH_POOL_ID: batchPoolId
  BATCH_NODE_IDENTITY_ID: batchNodeIdentityId
  EVENTGRID_TOPIC_ENDPOINT: eventGridTopicEndpoint
  // Only behind App Service authentication are the principal headers the platform's (it strips a
  // caller's own); otherwise anyone with a key could name any submitter, so they are not trusted.
  TRUST_APP_SERVICE_AUTH: appServiceAuthEnabled ? 'true' : 'false'
}

// Pipeline tuning, also read by shared/config.py; the values are its defaults.
var tuningDefaults = {
  BUNDLE_MAX_BYTES: '2147483648'
  BUNDLE_MAX_ENTRIES: '10000'
  BUNDLE_MAX_UNPACKED_BYTES: '8589934592'
  // A job without chunkSize is sized from probe renders, each task about TARGET_TASK_SECONDS.
  DEFAULT_CHUNK_SIZE: 'auto'
  TARGET_TASK_SECONDS: '300'
  // GET /api/jobs and /api/jobs/{jobId} may answer from a read at most this old (per instance).
  API_CACHE_SECONDS: '1'
  DEFAULT_MAX_RETRIES: '2'
  POLL_INTERVAL_SECONDS: '30'
  TASK_TIMEOUT_SECONDS: '3600'
  // 0: each render task gets NODE_CORES / TASK_SLOTS_PER_NODE threads (Blender's -t).
  RENDER_THREADS: '0'
  // main.bicep sets it to the vCPUs of the pool's VM size (batchNodeCores, through pipelineTuning).
  NODE_CORES: '0'
  OUTPUT_URL_LIFETIME_SECONDS: '3600'
  DEFAULT_STUCK_AFTER_SECONDS: '600'
  // main.bicep sets it to the pool's batchTaskSlotsPerNode (through pipelineTuning).
  TASK_SLOTS_PER_NODE: '1'
  // Set to the pool's VM price per hour (pipelineTuning) for a cost estimate and budgets.
  NODE_PRICE_PER_HOUR_DEDICATED: '0'
  NODE_PRICE_PER_HOUR_SPOT: '0'
}

var appSettings = union(platformSettings, pipelineSettings, tuningDefaults, pipelineTuning)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    //checkov:skip=CKV_AZURE_225:Zone redundancy for Flex Consumption is not offered in every region, so it is left to the operator; job state survives in Cosmos DB and chunks are re-runnable, so a zonal outage delays jobs rather than losing them.
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    //checkov:skip=CKV_AZURE_17:Client certificates would break Event Grid delivery and the studio HTTP clients; HTTP functions require function keys instead.
    //checkov:skip=CKV_AZURE_212:Flex Consumption scales instances on demand (down to zero); a fixed failover minimum would be always-ready instances billed while idle.
    //checkov:skip=CKV_AZURE_222:Public endpoint on purpose: Event Grid delivers to it and studio systems call the API; every HTTP function needs a function key.
    //checkov:skip=CKV_AZURE_213:No App Service health-check probe: the app scales to zero; ops and alerts call GET /api/health, which checks the dependencies.
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        for setting in items(appSettings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// App Service authentication identifies people, it does not replace the keys: Event Grid,
// renderctl and studio systems call with function keys and cannot sign in interactively, so
// unauthenticated requests pass through to the functions (which still demand a key), and the
// dashboard page itself sends a visitor without a session to /.auth/login/aad. Without a client
// secret Easy Auth signs in with the ID token (implicit) flow: no secret to store or rotate.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (appServiceAuthEnabled) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    //checkov:skip=CKV_AZURE_13:This resource IS the App Service authentication; checkov reads every Microsoft.Web/sites/config as the site's web config; this one is authsettingsV2 (the web config is siteConfig on the site above).
    //checkov:skip=CKV_AZURE_222:checkov reads every Microsoft.Web/sites/config as the site's web config; this one is authsettingsV2 (the web config is siteConfig on the site above).
    //checkov:skip=CKV_AZURE_63:checkov reads every Microsoft.Web/sites/config as the site's web config; this one is authsettingsV2 (the web config is siteConfig on the site above).
    //checkov:skip=CKV_AZURE_65:checkov reads every Microsoft.Web/sites/config as the site's web config; this one is authsettingsV2 (the web config is siteConfig on the site above).
    //checkov:skip=CKV_AZURE_66:checkov reads every Microsoft.Web/sites/config as the site's web config; this one is authsettingsV2 (the web config is siteConfig on the site above).
    //checkov:skip=CKV_AZURE_80:checkov reads every Microsoft.Web/sites/config as the site's web config; this one is authsettingsV2 (the web config is siteConfig on the site above).
    //checkov:skip=CKV_AZURE_88:checkov reads every Microsoft.Web/sites/config as the site's web config; this one is authsettingsV2 (the web config is siteConfig on the site above).
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: appServiceAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${appServiceAuthTenantId}/v2.0'
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

// azd deploys with Entra ID tokens; basic (publishing profile) credentials are
// not needed, so they are turned off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Name of the Function app.')
output name string = site.name

@description('Resource id of the Function app (Event Grid destinations are <id>/functions/<name>).')
output id string = site.id

@description('Default host name of the Function app.')
output defaultHostName string = site.properties.defaultHostName
