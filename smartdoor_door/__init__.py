"""The door agent (`smartdoor-door`): camera, motion, doorbell, snapshots, relay, unlock commands.

It runs on a Raspberry Pi or a laptop beside the door (docs/door.md). Layers: `camera`,
`motion`, `sharpness` (pure frame work), `uploads` (the device routes over HTTP), `relay` and
`lock` (the strike), `commands` (the MQTT contract's rules) and `mqtt` (the broker), wired by
`agent` and started by `cli`.
"""
