// Azure Batch: the render farm. A Batch account in Batch service pool allocation
// mode and one autoscaling Linux pool whose nodes get Blender, FFmpeg and
// python3 from a start task. Tasks reach storage with the pool's user-assigned
// identity (resource files and output files carry identityReference = this
// identity), so no SAS tokens or keys are handed to nodes.

@description('Name of the Batch account (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param accountName string

@description('Azure region for the Batch account and pool.')
param location string

@description('Tags applied to the Batch account.')
param tags object = {}

@description('Pool id the Function app submits render and stitch jobs to (BATCH_POOL_ID).')
param poolId string

@description('VM size of the render nodes. Compute-optimised sizes give the best Cycles CPU price per frame.')
param vmSize string

@description('Ubuntu LTS release of the nodes. 24.04 by default; Batch ends batch.node.ubuntu 22.04 on 2027-06-30.')
@allowed([
  '22.04'
  '24.04'
])
param ubuntuVersion string = '24.04'

@description('Upper bound on the number of nodes autoscale may request (a cost guard; also bounded by the account core quota).')
@minValue(1)
@maxValue(1000)
param maxNodes int

@description('Autoscale Spot nodes (Batch turns low-priority nodes into Spot) instead of dedicated ones: much cheaper, but nodes can be pre-empted; Batch requeues interrupted tasks.')
param useSpotNodes bool

@description('Tasks that may run at once on one node. 1 lets Blender use every core of the node.')
@minValue(1)
@maxValue(256)
param taskSlotsPerNode int

@description('Minutes between autoscale evaluations (Batch minimum is 5).')
@minValue(5)
@maxValue(60)
param autoScaleIntervalMinutes int = 5

@description('Blender release installed on the nodes, e.g. 5.0.1 (downloaded from the official release archive).')
param blenderVersion string

@description('Optional SHA-256 of blender-<version>-linux-x64.tar.xz; empty uses the checksum file published beside it.')
param blenderSha256 string = ''

@description('Resource id of the user-assigned identity attached to the pool nodes (BATCH_NODE_IDENTITY_ID).')
param poolIdentityId string

@description('Principal id of the Function app identity that creates jobs and tasks.')
param functionPrincipalId string

// Built-in role "Azure Batch Job Submitter": create and manage jobs, job
// schedules and tasks, read pools. It cannot create, resize or delete pools
// or touch the account, which is all the orchestration needs.
var jobSubmitterRoleId = '48e5e92e-a480-4e71-aa9c-2778f4c13781'

var images = {
  '22.04': {
    imageReference: {
      publisher: 'canonical'
      offer: '0001-com-ubuntu-server-jammy'
      sku: '22_04-lts'
      version: 'latest'
    }
    nodeAgentSkuId: 'batch.node.ubuntu 22.04'
  }
  '24.04': {
    imageReference: {
      publisher: 'canonical'
      offer: 'ubuntu-24_04-lts'
      sku: 'server'
      version: 'latest'
    }
    nodeAgentSkuId: 'batch.node.ubuntu 24.04'
  }
}

// Pending tasks = queued + running. Scale to enough nodes for them (rounded up
// to whole nodes by slots per node), capped at maxNodes, down to zero when the
// queue is empty; taskcompletion lets running renders finish before a node goes.
var targetNodes = useSpotNodes ? '$TargetLowPriorityNodes' : '$TargetDedicatedNodes'
var otherNodes = useSpotNodes ? '$TargetDedicatedNodes' : '$TargetLowPriorityNodes'
var autoScaleFormula = join([
  '$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);'
  '$tasks = $samples < 70 ? max(0, $PendingTasks.GetSample(1)) : max($PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 5)));'
  '$slots = ${taskSlotsPerNode};'
  '$nodes = $tasks > 0 ? ($tasks + $slots - 1) / $slots : 0;'
  '${targetNodes} = max(0, min(${maxNodes}, $nodes));'
  '${otherNodes} = 0;'
  '$NodeDeallocationOption = taskcompletion;'
], '\n')

// The start task is the one thing on a node that runs as admin (pool scope): it
// installs packages and Blender for everyone. Render, inspect and stitch tasks
// run as non-admin task-scope auto-users (set per task by the adapter), so they
// can read and run what it installs (a+rX) but not each other's directories.
// The start task script travels inside the command line (base64) so the pool
// needs no extra storage container or SAS for it.
var startTaskScript = base64(loadTextContent('../scripts/pool-start-task.sh'))

var blenderVersionSetting = [
  {
    name: 'BLENDER_VERSION'
    value: blenderVersion
  }
]
var blenderChecksumSetting = empty(blenderSha256) ? [] : [
  {
    name: 'BLENDER_SHA256'
    value: blenderSha256
  }
]
var startTaskEnvironment = concat(blenderVersionSetting, blenderChecksumSetting)

resource account 'Microsoft.Batch/batchAccounts@2024-07-01' = {
  name: accountName
  location: location
  tags: tags
  properties: {
    //checkov:skip=CKV_AZURE_76:Batch service mode encrypts with Microsoft-managed keys; customer-managed keys need a Key Vault this template does not create.
    poolAllocationMode: 'BatchService'
    publicNetworkAccess: 'Enabled'
    // Entra ID only for the Function app; task authentication tokens stay
    // available to tasks. Shared key auth is off.
    allowedAuthenticationModes: [
      'AAD'
      'TaskAuthenticationToken'
    ]
  }
}

resource pool 'Microsoft.Batch/batchAccounts/pools@2024-07-01' = {
  parent: account
  name: poolId
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${poolIdentityId}': {}
    }
  }
  properties: {
    displayName: 'Blender render nodes'
    vmSize: vmSize
    deploymentConfiguration: {
      virtualMachineConfiguration: images[ubuntuVersion]
    }
    // Nodes call out to Batch; no inbound endpoints are opened for them.
    targetNodeCommunicationMode: 'Simplified'
    interNodeCommunication: 'Disabled'
    taskSlotsPerNode: taskSlotsPerNode
    taskSchedulingPolicy: {
      nodeFillType: 'Spread'
    }
    scaleSettings: {
      autoScale: {
        formula: autoScaleFormula
        evaluationInterval: 'PT${autoScaleIntervalMinutes}M'
      }
    }
    startTask: {
      commandLine: '/bin/bash -c "echo ${startTaskScript} | base64 -d > start-task.sh && exec /bin/bash ./start-task.sh"'
      environmentSettings: startTaskEnvironment
      userIdentity: {
        autoUser: {
          scope: 'Pool'
          elevationLevel: 'Admin'
        }
      }
      maxTaskRetryCount: 3
      waitForSuccess: true
    }
  }
}

resource functionSubmitsJobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: account
  name: guid(account.id, functionPrincipalId, jobSubmitterRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', jobSubmitterRoleId)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Batch account endpoint as an https URL (BATCH_ACCOUNT_URL).')
output accountUrl string = 'https://${account.properties.accountEndpoint}'

@description('Name of the Batch account.')
output accountName string = account.name

@description('Id of the render pool.')
output poolId string = pool.name
