"""One module per group of CloudFormation resource types (`deploy/provider.Provider`)."""
