"""The test harness the other issues reuse: a real broker, per-service databases, services
in-process or as subprocesses, and helpers to publish and wait for events."""
