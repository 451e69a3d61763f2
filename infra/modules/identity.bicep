// One user-assigned managed identity. The pipeline uses two: one for the
// Function app and one for the Batch pool's nodes, so each gets only the
// roles its own work needs.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region for the identity.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity (used in identityReference and role assignments).')
output id string = identity.id

@description('Client id of the identity (what DefaultAzureCredential selects it by).')
output clientId string = identity.properties.clientId

@description('Object (principal) id of the identity (what role assignments grant to).')
output principalId string = identity.properties.principalId
