"""Shared fixtures: real services on random loopback ports, started once and stopped."""

pytest_plugins = [
    "tests.fixtures.nats",
    "tests.fixtures.nats_cluster",
    "tests.fixtures.s3",
    "tests.fixtures.trino",
    "tests.fixtures.warehouse",
    "tests.fixtures.webhooks",
]
