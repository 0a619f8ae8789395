"""The use cases: each module orchestrates one thing the system does, on the domain's rules
(`smartdoor.domain`, pure) and the ports (`smartdoor.ports`). Handlers parse an event, build
the adapters and call one use case; the use case never imports boto3 or an event shape."""
