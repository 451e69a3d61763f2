// Event Grid subscriptions from the storage system topic to the app's two
// Event Grid trigger functions. Deployed only after the app code is deployed
// (main.bicep's deployEventSubscriptions, set by the azd postdeploy hook):
// an AzureFunction destination is validated against the function at creation.
//
// Only committed blobs count (data.api), as in docs/DESIGN.md. Event Grid allows
// one subjectEndsWith per subscription, so the scene suffixes use an advanced
// filter; tests/infra checks these filters against function_app.py and the
// container defaults in shared/config.py.

@description('Name of the storage system topic.')
param systemTopicName string

@description('Name of the Function app whose functions receive the events.')
param functionAppName string

@description('Name of the storage account (dead-letter destination).')
param storageAccountName string

@description('Scene bundle container (SCENES_CONTAINER).')
param scenesContainerName string

@description('Render output container (RENDERS_CONTAINER).')
param rendersContainerName string

@description('Container that receives events that could not be delivered.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (Event Grid maximum is 30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before dead-lettering it (maximum 1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

var committedBlobApis = [
  'PutBlob'
  'PutBlockList'
  'CopyBlob'
  'FlushWithClose'
]

var subscriptions = [
  {
    name: 'scene-uploaded'
    functionName: 'on_scene_uploaded'
    subjectBeginsWith: '/blobServices/default/containers/${scenesContainerName}/blobs/'
    subjectEndsWith: ''
    advancedFilters: [
      {
        operatorType: 'StringIn'
        key: 'data.api'
        values: committedBlobApis
      }
      {
        operatorType: 'StringEndsWith'
        key: 'subject'
        values: [
          '.zip'
          '.blend'
        ]
      }
    ]
  }
  {
    name: 'render-output'
    functionName: 'on_render_output'
    subjectBeginsWith: '/blobServices/default/containers/${rendersContainerName}/blobs/'
    subjectEndsWith: '.json'
    advancedFilters: [
      {
        operatorType: 'StringIn'
        key: 'data.api'
        values: committedBlobApis
      }
      {
        // Chunk completion markers: renders/<jobId>/chunks/<taskId>.json
        operatorType: 'StringContains'
        key: 'subject'
        values: [
          '/chunks/'
        ]
      }
    ]
  }
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource eventSubscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [
  for sub in subscriptions: {
    parent: topic
    name: sub.name
    properties: {
      eventDeliverySchema: 'EventGridSchema'
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${site.id}/functions/${sub.functionName}'
          maxEventsPerBatch: 1
          preferredBatchSizeInKilobytes: 64
        }
      }
      filter: {
        includedEventTypes: [
          'Microsoft.Storage.BlobCreated'
        ]
        subjectBeginsWith: sub.subjectBeginsWith
        subjectEndsWith: sub.subjectEndsWith
        isSubjectCaseSensitive: false
        enableAdvancedFilteringOnArrays: true
        advancedFilters: sub.advancedFilters
      }
      retryPolicy: {
        maxDeliveryAttempts: maxDeliveryAttempts
        eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
      }
      deadLetterWithResourceIdentity: {
        identity: {
          type: 'SystemAssigned'
        }
        deadLetterDestination: {
          endpointType: 'StorageBlob'
          properties: {
            resourceId: storage.id
            blobContainerName: deadLetterContainerName
          }
        }
      }
    }
  }
]

@description('Names of the event subscriptions created.')
output subscriptionNames array = [for sub in subscriptions: sub.name]
