"""The local stack's description of the deployment: the synthesized CDK template.

`template` synthesizes cdk_app/ in-process with the local stack's context (cached on disk per
hash of the sources); `model` parses what the local stack builds from it (tables, buckets,
queues, the bus and its rules, the face-search stream and its mapping, the functions and their
environments, the state machines) and resolves CloudFormation intrinsics against the names the
local stack gives each resource on moto.
"""
