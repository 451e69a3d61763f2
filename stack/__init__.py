"""Starting and stopping the local stack: Azurite, the Cosmos server, localbatch and devhost."""
