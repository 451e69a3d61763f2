// The storage account's Event Grid system topic (BlobCreated events). It has a
// system-assigned identity so that its subscriptions can dead-letter into the
// deadletter container without a key or SAS. The subscriptions themselves live
// in eventgrid-subscriptions.bicep: they can only be created once the app's
// functions exist (see docs/DEPLOY.md, "Event subscriptions").

@description('Name of the system topic.')
param name string

@description('Azure region (must be the storage account region).')
param location string

@description('Tags applied to the system topic.')
param tags object = {}

@description('Name of the storage account whose blob events the topic publishes.')
param storageAccountName string

@description('Container that receives undeliverable events.')
param deadLetterContainerName string

// Built-in role: Storage Blob Data Contributor (dead-letter writes only).
var blobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource topicWritesDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: deadLetter
  name: guid(deadLetter.id, topic.id, blobDataContributorRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Name of the system topic.')
output name string = topic.name
