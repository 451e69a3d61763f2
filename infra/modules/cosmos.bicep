// Job state: a serverless Cosmos DB (NoSQL) account, database `render`,
// container `jobs` partitioned by /id (one document per job; the job id is the
// orchestration instance id, so every read and write is a point operation), and
// container `chunks` partitioned by /jobId (a job's chunks in pages of at most 200,
// one document each, so a chunk update rewrites one small page, never the list).
// Keys are disabled: the Function app uses its managed identity with a
// data-plane role scoped to this one database.

@description('Name of the Cosmos DB account (3-44 lowercase letters, digits, hyphens).')
@minLength(3)
@maxLength(44)
param name string

@description('Azure region for the Cosmos DB account.')
param location string

@description('Tags applied to the account.')
param tags object = {}

@description('Database holding the job documents (COSMOS_DATABASE).')
param databaseName string

@description('Container holding one document per job (COSMOS_CONTAINER).')
param containerName string

@description('Container holding the chunk pages of every job (COSMOS_CHUNKS_CONTAINER).')
param chunksContainerName string

@description('Principal id of the Function app identity that reads and writes jobs.')
param functionPrincipalId string

// Data-plane built-in role "Cosmos DB Built-in Data Contributor"
// (read/write items and queries; no account or key management).
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    //checkov:skip=CKV_AZURE_99:No VNet in this template; the Function app (Flex, no VNet integration by default) reaches Cosmos over its public endpoint with Entra auth only (disableLocalAuth).
    //checkov:skip=CKV_AZURE_101:Same as CKV_AZURE_99: public endpoint, identity-only access; private endpoints are a hardening step in docs/DEPLOY.md.
    databaseAccountOfferType: 'Standard'
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource jobs 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        // Per-chunk details are read with the job, never queried on: not
        // indexing them keeps writes cheap for jobs with many chunks.
        excludedPaths: [
          {
            path: '/chunks/*'
          }
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
  }
}

resource chunks 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: chunksContainerName
  properties: {
    resource: {
      id: chunksContainerName
      partitionKey: {
        paths: [
          '/jobId'
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        // Pages are read by partition (all of a job's) or by id, never queried on their
        // contents: indexing only the page number keeps each page replace cheap.
        includedPaths: [
          {
            path: '/page/?'
          }
        ]
        excludedPaths: [
          {
            path: '/*'
          }
        ]
      }
    }
  }
}

resource functionCanReadWriteJobs 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: account
  name: guid(account.id, functionPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: functionPrincipalId
    // Scoped to the database, not the account.
    scope: '${account.id}/dbs/${database.name}'
  }
}

@description('Cosmos DB endpoint (COSMOS_ENDPOINT).')
output endpoint string = account.properties.documentEndpoint

@description('Name of the Cosmos DB account.')
output name string = account.name
