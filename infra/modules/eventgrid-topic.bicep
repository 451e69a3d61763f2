// Custom topic for the pipeline's outbound job lifecycle events
// (RenderPipeline.Job.Queued|Started|Completed|Failed|Cancelled, Event Grid
// schema, subject /jobs/<jobId>). Access keys are disabled: the Function app
// publishes with its managed identity (EventGrid Data Sender on this topic only).

@description('Name of the Event Grid topic.')
param name string

@description('Azure region for the topic.')
param location string

@description('Tags applied to the topic.')
param tags object = {}

@description('Principal id of the Function app identity that publishes job events.')
param senderPrincipalId string

// Built-in role: EventGrid Data Sender.
var dataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  // Lets future subscriptions deliver or dead-letter with the topic's own
  // identity instead of keys or SAS.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    //checkov:skip=CKV_AZURE_193:Subscribers (studio systems) are outside any VNet this template could know of; publishing needs an Entra token (disableLocalAuth).
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: topic
  name: guid(topic.id, senderPrincipalId, dataSenderRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSenderRoleId)
    principalId: senderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Topic endpoint (EVENTGRID_TOPIC_ENDPOINT).')
output endpoint string = topic.properties.endpoint

@description('Name of the topic.')
output name string = topic.name
