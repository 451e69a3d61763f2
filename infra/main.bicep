// Render pipeline on Azure: everything `azd up` creates.
//
//   Storage account ── Event Grid system topic ──▶ Function app (Flex Consumption,
//   scenes/renders/deadletter                       Python 3.11, Durable Functions)
//                                                      │ managed identity
//            Batch account + autoscaling Blender pool ◀┤ Cosmos DB (serverless) jobs
//                                                      └▶ Event Grid topic (job events)
//
// Two user-assigned identities: `api` for the Function app, `pool` for the
// Batch nodes. docs/DEPLOY.md lists every role assignment and why.

targetScope = 'subscription'

@description('azd environment name; prefixes the resource group and feeds the resource name suffix.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region for every resource (it must offer Flex Consumption, Batch and Cosmos DB serverless).')
@minLength(1)
param location string

@description('Object id of the person running azd (AZURE_PRINCIPAL_ID); gets upload rights on scenes and read on renders. Empty for none.')
param principalId string = ''

@description('Create the Event Grid subscriptions to the app functions. False on the first provision (the functions do not exist yet); the postdeploy hook sets it.')
param deployEventSubscriptions bool = false

@description('Blob container for inbound scene bundles (SCENES_CONTAINER).')
param scenesContainerName string = 'scenes'

@description('Blob container for frames, chunk markers, logs and videos (RENDERS_CONTAINER).')
param rendersContainerName string = 'renders'

@description('Blob container for Event Grid dead letters.')
param deadLetterContainerName string = 'deadletter'

@description('Cosmos DB database for job documents (COSMOS_DATABASE).')
param cosmosDatabaseName string = 'render'

@description('Cosmos DB container for job documents, partition key /id (COSMOS_CONTAINER).')
param cosmosContainerName string = 'jobs'

@description('Cosmos DB container for the chunk pages of jobs, partition key /jobId (COSMOS_CHUNKS_CONTAINER).')
param cosmosChunksContainerName string = 'chunks'

@description('Days before the lifecycle rule deletes blobs in the renders container.')
@minValue(1)
param rendersRetentionDays int = 30

@description('Batch pool id (BATCH_POOL_ID).')
param batchPoolId string = 'blender'

@description('VM size of the render nodes (8 vCPU compute-optimised by default).')
param batchVmSize string = 'Standard_F8s_v2'

@description('Ubuntu LTS release of the render nodes (Batch ends 22.04 on 2027-06-30).')
@allowed([
  '22.04'
  '24.04'
])
param batchUbuntuVersion string = '24.04'

@description('Most nodes the pool autoscales to (cost guard).')
@minValue(1)
@maxValue(1000)
param batchMaxNodes int = 4

@description('Autoscale Spot nodes (what Batch low-priority nodes become): far cheaper, may be pre-empted (Batch requeues the task).')
param batchUseSpotNodes bool = true

@description('vCPUs of batchVmSize (8 for Standard_F8s_v2): each render task gets batchNodeCores / batchTaskSlotsPerNode threads.')
@minValue(1)
@maxValue(4096)
param batchNodeCores int = 8

@description('Render tasks per node at once; 1 gives Blender the whole node.')
@minValue(1)
@maxValue(256)
param batchTaskSlotsPerNode int = 1

@description('Blender release installed on the pool (official Linux x64 build from the Blender release archive).')
param blenderVersion string = '5.0.1'

@description('Optional SHA-256 of the Blender tarball; empty uses the checksum file the archive publishes.')
param blenderSha256 string = ''

@description('Most instances the Function app scales out to.')
@minValue(1)
@maxValue(1000)
param functionMaxInstances int = 40

@description('Overrides for pipeline tuning app settings, e.g. {"DEFAULT_CHUNK_SIZE": "20"}.')
param pipelineTuning object = {}

@description('Sign dashboard users in with Microsoft Entra ID (App Service authentication) and record them as the submitters of their jobs. Needs appServiceAuthClientId; function keys stay required.')
param appServiceAuthEnabled bool = false

@description('With appServiceAuthEnabled: application (client) id of the Entra ID app registration (redirect URI https://<app>.azurewebsites.net/.auth/login/aad/callback, ID tokens enabled).')
param appServiceAuthClientId string = ''

var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var deploymentContainerName = 'app-package'
// Named here, not read from the app's outputs: storage (CORS for the dashboard's origin) is
// deployed before the app, which needs storage's outputs.
var functionAppName = 'func-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module apiIdentity 'modules/identity.bicep' = {
  name: 'api-identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module poolIdentity 'modules/identity.bicep' = {
  name: 'pool-identity'
  scope: rg
  params: {
    name: 'id-pool-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    publisherPrincipalId: apiIdentity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    scenesContainerName: scenesContainerName
    rendersContainerName: rendersContainerName
    deadLetterContainerName: deadLetterContainerName
    deploymentContainerName: deploymentContainerName
    rendersRetentionDays: rendersRetentionDays
    functionPrincipalId: apiIdentity.outputs.principalId
    poolPrincipalId: poolIdentity.outputs.principalId
    userPrincipalId: principalId
    dashboardOrigins: [
      'https://${functionAppName}.azurewebsites.net'
    ]
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    chunksContainerName: cosmosChunksContainerName
    functionPrincipalId: apiIdentity.outputs.principalId
  }
}

module batch 'modules/batch.bicep' = {
  name: 'batch'
  scope: rg
  params: {
    accountName: 'ba${resourceToken}'
    location: location
    tags: tags
    poolId: batchPoolId
    vmSize: batchVmSize
    ubuntuVersion: batchUbuntuVersion
    maxNodes: batchMaxNodes
    useSpotNodes: batchUseSpotNodes
    taskSlotsPerNode: batchTaskSlotsPerNode
    blenderVersion: blenderVersion
    blenderSha256: blenderSha256
    poolIdentityId: poolIdentity.outputs.id
    functionPrincipalId: apiIdentity.outputs.principalId
  }
}

module jobEvents 'modules/eventgrid-topic.bicep' = {
  name: 'job-events'
  scope: rg
  params: {
    name: 'evgt-${resourceToken}'
    location: location
    tags: tags
    senderPrincipalId: apiIdentity.outputs.principalId
  }
}

module blobEvents 'modules/eventgrid-system-topic.bicep' = {
  name: 'blob-events'
  scope: rg
  params: {
    name: 'evgst-${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
  }
}

module api 'modules/functionapp.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: apiIdentity.outputs.id
    identityClientId: apiIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageAccountUrl: storage.outputs.blobEndpoint
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    scenesContainerName: scenesContainerName
    rendersContainerName: rendersContainerName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmosDatabaseName
    cosmosContainerName: cosmosContainerName
    cosmosChunksContainerName: cosmosChunksContainerName
    batchAccountUrl: batch.outputs.accountUrl
    batchPoolId: batch.outputs.poolId
    batchNodeIdentityId: poolIdentity.outputs.id
    eventGridTopicEndpoint: jobEvents.outputs.endpoint
    // A task's share of a node in the cost estimate is 1/taskSlotsPerNode of the pool, and its
    // Blender threads are the node's cores shared by the tasks that run on it at once.
    pipelineTuning: union({
      TASK_SLOTS_PER_NODE: string(batchTaskSlotsPerNode)
      NODE_CORES: string(batchNodeCores)
    }, pipelineTuning)
    maximumInstanceCount: functionMaxInstances
    appServiceAuthEnabled: appServiceAuthEnabled
    appServiceAuthClientId: appServiceAuthClientId
  }
}

module blobSubscriptions 'modules/eventgrid-subscriptions.bicep' = if (deployEventSubscriptions) {
  name: 'blob-subscriptions'
  scope: rg
  params: {
    systemTopicName: blobEvents.outputs.name
    functionAppName: api.outputs.name
    storageAccountName: storage.outputs.name
    scenesContainerName: scenesContainerName
    rendersContainerName: rendersContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

@description('Region the environment was deployed to.')
output AZURE_LOCATION string = location

@description('Tenant of the deployment.')
output AZURE_TENANT_ID string = tenant().tenantId

@description('Resource group holding every resource.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Name of the Function app (azd deploys the api service to it).')
output AZURE_FUNCTION_APP_NAME string = api.outputs.name

@description('Base URL of the HTTP API.')
output API_BASE_URL string = 'https://${api.outputs.defaultHostName}/api'

@description('Storage account name, e.g. for `az storage blob upload --auth-mode login`.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name

@description('Blob endpoint of the storage account.')
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint

@description('Cosmos DB endpoint.')
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint

@description('Batch account URL.')
output AZURE_BATCH_ACCOUNT_URL string = batch.outputs.accountUrl

@description('Batch pool id.')
output AZURE_BATCH_POOL_ID string = batch.outputs.poolId

@description('Job lifecycle events topic endpoint.')
output AZURE_EVENTGRID_TOPIC_ENDPOINT string = jobEvents.outputs.endpoint

@description('Whether the blob event subscriptions were deployed in this run.')
output EVENT_SUBSCRIPTIONS_DEPLOYED bool = deployEventSubscriptions
