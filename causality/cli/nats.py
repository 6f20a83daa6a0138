"""``causality nats``: the embedded NATS server with JetStream, in the foreground."""

from __future__ import annotations

import click

from causality.cli._app import settings_of, signal_latch


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Client port (default: nats.port setting; 0 picks a free one).")
@click.option("--monitor-port", type=click.IntRange(0, 65535), default=None,
              help="Monitoring port: /healthz for probes, /varz and /jsz for the Prometheus "
                   "exporter (default: nats.monitor_port, else a free one).")
@click.option("--cluster", "cluster_name", default=None, metavar="NAME",
              help="Run as one node of the JetStream cluster NAME (default: nats.cluster_name; "
                   "unset: a single server).")
@click.option("--server-name", default=None, metavar="NAME",
              help="This node's name, unique in the cluster and the same after a restart "
                   "(default: nats.server_name, else one made once and kept in the store dir).")
@click.option("--cluster-port", type=click.IntRange(0, 65535), default=None,
              help="Port other nodes route to (default: nats.cluster_port, 6222).")
@click.option("--routes", "routes", multiple=True, metavar="URL",
              help="nats-route://host:port of a node; repeat for every node, this one may be "
                   "listed too (default: nats.routes).")
@click.pass_context
def nats(ctx: click.Context, port: int | None, monitor_port: int | None, cluster_name: str | None,
         server_name: str | None, cluster_port: int | None, routes: tuple[str, ...]) -> None:
    """Run the embedded NATS server with JetStream, storing under the data dir.

    Runs in the foreground until interrupted (Ctrl-C or SIGTERM); nats-server's log goes to
    this command's stderr. With --cluster, three (or
    five) such nodes with the same --routes form a cluster; set nats.replicas = 3 and nats.url
    to all the nodes' client URLs, comma-separated, for the other processes.
    """
    from pipeline.natsd import NatsConfig, NatsServer

    s = settings_of(ctx)
    n = s.nats
    stop = signal_latch()
    server = NatsServer(NatsConfig(
        store_dir=s.nats_store_dir.resolve(), host=n.host,
        port=n.port if port is None else port, sync_interval=n.sync_interval,
        max_file_store=n.max_file_store,
        monitor_port=(monitor_port if monitor_port is not None else n.monitor_port) or 0,
        server_name=server_name or n.server_name, cluster_name=cluster_name or n.cluster_name,
        cluster_port=n.cluster_port if cluster_port is None else cluster_port,
        routes=routes or n.routes,
    ), log_file=None).start()
    cluster = (f", node {server.config.name} of cluster {server.config.cluster_name} "
               f"(routes on {server.cluster_url})" if server.config.cluster_name else "")
    click.echo(f"nats-server ready at {server.url} (JetStream store {s.nats_store_dir}, "
               f"monitoring {server.monitor_url}{cluster})")
    try:
        stop.wait()
    finally:
        server.stop()


COMMANDS = (nats,)
