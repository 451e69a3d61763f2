// The pipeline's storage account: scene bundles in, rendered frames and videos
// out, Event Grid dead letters, the Flex Consumption deployment package, and the
// Functions host's own blobs, queues and tables (the Durable task hub uses the
// Azure Storage provider on this account).
//
// Every client authenticates with Microsoft Entra ID (managed identities), so
// shared key access is disabled: the Functions host and Durable task hub use
// AzureWebJobsStorage__accountName + __credential, Flex deployment storage uses
// the app's identity, Batch nodes use the pool identity, Event Grid dead-letters
// with the system topic's identity.

@description('Name of the storage account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region for the storage account.')
param location string

@description('Tags applied to the storage account.')
param tags object = {}

@description('Replication SKU. LRS is enough for a render cache; choose ZRS/GRS if scene bundles are the only copy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_LRS'

@description('Container the artists upload scene bundles to (SCENES_CONTAINER).')
param scenesContainerName string

@description('Container the render tasks write frames, chunk markers, logs and videos to (RENDERS_CONTAINER).')
param rendersContainerName string

@description('Container of scene files stored by content, sha256/<hash> (ASSETS_CONTAINER, as functionapp.bicep sets it).')
param assetsContainerName string = 'assets'

@description('Delete upload staging blobs (_staging/, never committed) this many days after they were written.')
@minValue(1)
param assetStagingRetentionDays int = 1

@description('Container Event Grid writes undeliverable events to.')
param deadLetterContainerName string

@description('Container the Flex Consumption plan reads the deployment package from.')
param deploymentContainerName string

@description('Delete blobs in the renders container this many days after their last change.')
@minValue(1)
param rendersRetentionDays int

@description('Delete dead-lettered events this many days after they were written.')
@minValue(1)
param deadLetterRetentionDays int = 30

@description('Days a deleted blob or container can still be restored.')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int = 7

@description('Principal id of the Function app identity (host storage, task hub, scenes and renders).')
param functionPrincipalId string

@description('Principal id of the Batch pool identity (reads scenes, writes renders).')
param poolPrincipalId string

@description('Optional principal id of a person (e.g. the one running azd) allowed to upload scenes and read renders; empty for none.')
param userPrincipalId string = ''

@description('Origins of the dashboard (the Function app at https://<name>.azurewebsites.net): the page uploads bundles from there straight to their one-blob upload URLs, a cross-origin PUT that needs this CORS rule.')
@minLength(1)
param dashboardOrigins array

// Built-in roles (ids are the same in every cloud).
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

// The Functions host needs these at account scope: it creates its own
// containers (azure-webjobs-hosts, -secrets), the Durable task hub's queues,
// tables and lease containers, and reads the deployment package.
var functionAccountRoles = [
  roles.blobDataOwner
  roles.queueDataContributor
  roles.tableDataContributor
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    //checkov:skip=CKV_AZURE_35:Batch nodes (no VNet in this template) and the Flex app reach the account over public endpoints; every request needs an Entra token and shared keys are off. See docs/DEPLOY.md hardening.
    //checkov:skip=CKV_AZURE_59:Same as CKV_AZURE_35: public endpoint, identity-only access; private endpoints need a VNet for the pool and the app.
    //checkov:skip=CKV_AZURE_206:Replication is a parameter (skuName); LRS is the cost-conscious default for re-creatable renders.
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Only PUT (Put Block, Put Block List) from the dashboard's origin, and its preflight; the SAS
    // in the URL is the only credential, so no key header is allowed and no header is exposed.
    // The local stack sets the same rule on Azurite (stack/cors.py).
    cors: {
      corsRules: [
        {
          allowedOrigins: dashboardOrigins
          allowedMethods: [
            'PUT'
            'OPTIONS'
          ]
          allowedHeaders: [
            'x-ms-*'
            'content-type'
          ]
          exposedHeaders: []
          maxAgeInSeconds: 600
        }
      ]
    }
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource scenes 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: scenesContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource renders 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: rendersContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource assets 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: assetsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deploymentPackages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The Durable task hub creates its queues and tables at start-up; declaring
// the services keeps them explicit in the template.
resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-old-renders'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${rendersContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: rendersRetentionDays
                }
              }
            }
          }
        }
        {
          // Uploads through POST /api/assets/missing land under _staging/ and move to sha256/
          // on commit; what a client never committed goes. Assets themselves (sha256/) get no
          // age rule: a queued job may still need an old one; `python -m shared.pipeline.asset_cleanup`
          // removes those no job used for 31 days (README, "Scene assets by content").
          name: 'delete-uncommitted-asset-uploads'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${assetsContainerName}/_staging/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: assetStagingRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'delete-old-dead-letters'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${deadLetterContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: deadLetterRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource functionRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in functionAccountRoles: {
    scope: account
    name: guid(account.id, functionPrincipalId, roleId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: functionPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// Render nodes download bundles (resource files) from scenes only...
resource poolReadsScenes 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: scenes
  name: guid(scenes.id, poolPrincipalId, roles.blobDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader)
    principalId: poolPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ...and scene files by content from assets (materialize.py, with the pool identity)...
resource poolReadsAssets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: assets
  name: guid(assets.id, poolPrincipalId, roles.blobDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader)
    principalId: poolPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ...and upload frames, markers, logs and videos (output files) to renders
// only, and read frames back there for the stitch task.
resource poolWritesRenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: renders
  name: guid(renders.id, poolPrincipalId, roles.blobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: poolPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource userUploadsScenes 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  scope: scenes
  name: guid(scenes.id, userPrincipalId, roles.blobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: userPrincipalId
  }
}

resource userReadsRenders 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  scope: renders
  name: guid(renders.id, userPrincipalId, roles.blobDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader)
    principalId: userPrincipalId
  }
}

@description('Resource id of the storage account (the Event Grid system topic source).')
output id string = account.id

@description('Name of the storage account.')
output name string = account.name

@description('Blob endpoint, e.g. https://<name>.blob.core.windows.net/ (STORAGE_ACCOUNT_URL).')
output blobEndpoint string = account.properties.primaryEndpoints.blob

@description('URL of the Flex Consumption deployment container.')
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentPackages.name}'
