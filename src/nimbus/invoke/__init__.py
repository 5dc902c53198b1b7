"""The one door to run a function: `invoker` (resolve, check, admit, dispatch), `throttle` (the one admission gate
and in-flight count), `concurrency` (the owner of reserved and provisioned concurrency), `payload` (input checks).
It may import control/, protocol/ and errors; it reaches the instance pools through the narrow protocols it
declares (`Pools`, `ProvisionedPools`), which `nimbus.instances.InstanceManager` satisfies."""
