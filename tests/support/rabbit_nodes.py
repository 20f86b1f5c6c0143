"""Private RabbitMQ nodes, HAProxy and certificates for the deployment tests.

Each node has its own node name, ports, data directory and Erlang cookie under a
temp dir, so the shared broker on 127.0.0.1:5672 is never touched (extra nodes come from
the installed rabbitmq-server; docs/deployment.md, "RabbitMQ cluster"). Needs root (the
Debian wrapper would otherwise switch to the rabbitmq user, who cannot read our files).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip outside CI; fail under CI, where every tool must be installed (tests/conftest.py)."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Wait until ``port`` accepts connections; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{proc.args!r} did not listen on {port} in {timeout_s}s")


def rewrite(text: str, replacements: dict[str, str], *, source: Path) -> str:
    """Apply replacements to a shipped config, failing if one no longer applies."""
    for old, new in replacements.items():
        assert old in text, f"{source} no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@dataclass(frozen=True)
class Certs:
    """The files ``deploy/tls/gen-certs.sh`` writes."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.dir / "client.pem"

    @property
    def key(self) -> Path:
        return self.dir / "client.key"


def make_certs(out: Path) -> Certs:
    script = DEPLOY / "tls" / "gen-certs.sh"
    subprocess.run(["bash", str(script), str(out)], check=True, capture_output=True)
    return Certs(out)


@dataclass(frozen=True)
class Connection:
    """One client connection: its client library and whether it publishes with confirms."""

    product: str  # "aiormq" for aio-pika (our producer), "py-amqp" for Celery/kombu
    confirms: bool


@dataclass
class RabbitNode:
    """One private node; ``stop()`` is idempotent."""

    name: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def ctl(self, *args: str, timeout_s: float = 60) -> str:
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        )
        return result.stdout

    def os_pid(self) -> int:
        """The node's Erlang VM (the ``rabbitmq-server`` script we started is its parent)."""
        return int(self.ctl("eval", "list_to_integer(os:getpid()).").strip())

    def kill(self, pid: int | None = None) -> None:
        """SIGKILL the Erlang VM (``pid``: its ``os_pid()``, asked for ahead to kill at once):
        a crash, so no connection.close reaches the clients and no quorum-queue leadership
        is handed over (``stop_app`` would do both)."""
        os.kill(pid or self.os_pid(), signal.SIGKILL)
        self.proc.wait(timeout=60)

    def queue_leaders(self, vhost: str = "/") -> dict[str, str]:
        """Quorum queue name -> the node that hosts its leader, as this node sees it."""
        out = self.ctl("list_queues", "-p", vhost, "name", "leader", "--formatter", "json")
        return {q["name"]: q["leader"] for q in json.loads(out) if q.get("leader")}

    def transfer_leadership(self, queue: str, to: str, vhost: str = "/") -> None:
        """Move ``queue``'s leader to node ``to``: the call ``rabbitmq-upgrade drain`` makes
        (RabbitMQ 3.10 has no command for one queue)."""
        resource = f'rabbit_misc:r(<<"{vhost}">>, queue, <<"{queue}">>)'
        out = self.ctl(
            "eval",
            f"{{ok, Q}} = rabbit_amqqueue:lookup({resource}), "
            f"rabbit_quorum_queue:transfer_leadership(Q, '{to}').",
        )
        assert "not_migrated" not in out, f"{queue}: {out}"

    def running_nodes(self) -> set[str]:
        status = json.loads(self.ctl("cluster_status", "--formatter", "json"))
        return set(status["running_nodes"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            subprocess.run(
                [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, "stop"],
                env=self.env,
                capture_output=True,
                timeout=60,
                check=False,
            )
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class NodeFactory:
    """Starts nodes that share one Erlang cookie (so they can cluster) under ``base``."""

    base: Path
    nodes: list[RabbitNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (RABBIT_BIN / "rabbitmq-server").exists() or os.geteuid() != 0:
            unavailable("private RabbitMQ nodes need rabbitmq-server and root")
        home = self.base / "home"
        home.mkdir(parents=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(os.urandom(16).hex())
        cookie.chmod(0o400)

    def start(self, name: str, config: str, *, listen_port: int) -> RabbitNode:
        """Boot ``name`` with ``config`` (rabbitmq.conf syntax); returns once it listens."""
        node = self.launch(name, config)
        wait_for_port(listen_port, node.proc, timeout_s=120)
        return node

    def launch(self, name: str, config: str) -> RabbitNode:
        """Start booting ``name`` and return at once (boot several nodes in parallel)."""
        node_dir = self.base / name.split("@")[0]
        node_dir.mkdir()
        (node_dir / "rabbitmq.conf").write_text(config)
        (node_dir / "enabled_plugins").write_text("[].\n")  # no management port clash
        (node_dir / "env.conf").write_text("")
        env = {
            **os.environ,
            "HOME": str(self.base / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(node_dir / "env.conf"),
            "RABBITMQ_NODENAME": name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(free_port()),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(node_dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node_dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(node_dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(node_dir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node_dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(node_dir / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        log = node_dir / "server.out"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=env,
                cwd=node_dir,
                stdout=out,
                stderr=out,
            )
        node = RabbitNode(name, env, proc, log)
        self.nodes.append(node)
        return node

    def stop_all(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.base, ignore_errors=True)


CLUSTER_CONF = DEPLOY / "cluster" / "cluster.conf"


@dataclass(frozen=True)
class ClusterNode:
    node: RabbitNode
    port: int  # its AMQP listener on 127.0.0.1

    def connections(self) -> list[Connection]:
        """The AMQP client connections open on this node (to its listener port; ``rabbitmqctl``
        lists the whole cluster's)."""
        rows = json.loads(
            self.node.ctl(
                "list_connections", "port", "pid", "client_properties", "--formatter", "json"
            )
        )
        channels = json.loads(
            self.node.ctl("list_channels", "connection", "confirm", "--formatter", "json")
        )
        confirming = {c["connection"] for c in channels if c["confirm"]}
        return [
            Connection(
                product=next((v for k, _, v in r["client_properties"] if k == "product"), ""),
                confirms=r["pid"] in confirming,
            )
            for r in rows
            if r["port"] == self.port
        ]


def start_cluster(factory: NodeFactory, tag: str) -> list[ClusterNode]:
    """Three nodes clustered by the shipped ``deploy/cluster/cluster.conf`` (names rewritten).

    The first boots alone; the others find it through classic peer discovery and join.
    """
    names = [f"c{i}-{tag}@localhost" for i in (1, 2, 3)]
    ports = [free_port() for _ in names]
    formation = rewrite(
        CLUSTER_CONF.read_text(),
        {f"rabbit@rabbitmq{i}": name for i, name in enumerate(names, start=1)},
        source=CLUSTER_CONF,
    )
    configs = [f"listeners.tcp.default = 127.0.0.1:{port}\n{formation}" for port in ports]
    first = factory.start(names[0], configs[0], listen_port=ports[0])
    rest = [factory.launch(n, c) for n, c in zip(names[1:], configs[1:], strict=True)]
    for node, port in zip(rest, ports[1:], strict=True):
        wait_for_port(port, node.proc, timeout_s=120)
    deadline = time.monotonic() + 60
    while first.running_nodes() != set(names):
        assert time.monotonic() < deadline, f"cluster did not form: {first.running_nodes()}"
        time.sleep(1)
    return [ClusterNode(n, p) for n, p in zip([first, *rest], ports, strict=True)]


def cluster_backends(cluster: list[ClusterNode]) -> dict[str, int]:
    """The shipped haproxy.cfg's AMQP servers (``rabbitmq1:5672`` …) -> the nodes' ports."""
    return {f"rabbitmq{i}:5672": c.port for i, c in enumerate(cluster, start=1)}


@dataclass
class HAProxy:
    """A foreground haproxy on a rewritten copy of the shipped cluster config."""

    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, config: str, workdir: Path, *, listen_port: int) -> HAProxy:
        haproxy = shutil.which("haproxy")
        if haproxy is None:
            unavailable("haproxy is not installed (apt-get install -y haproxy)")
            raise AssertionError("unreachable")  # pragma: no cover - unavailable() raises
        cfg = workdir / "haproxy.cfg"
        cfg.write_text(config)
        proc = subprocess.Popen(
            [haproxy, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(listen_port, proc, timeout_s=20)
        return cls(proc)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


HAPROXY_CFG = DEPLOY / "cluster" / "haproxy.cfg"
_FRONT_BINDS = ("bind :5672", "bind :5671", "bind :15672", "bind :8404")
_NODE_PORTS = ("5672", "5671", "15672")


@contextmanager
def shipped_haproxy(workdir: Path, *, front: str, backends: dict[str, int]) -> Iterator[int]:
    """The shipped cluster ``haproxy.cfg`` on loopback; yields the port of ``front``.

    ``front`` is the bind to expose (``"5672"`` or ``"5671"``); the other binds go to free
    ports. ``backends`` maps ``"rabbitmq1:5672"``-style servers to local ports; every
    server not named points at a closed port.
    """
    ports = {bind: free_port() for bind in _FRONT_BINDS}
    replacements = {bind: f"bind 127.0.0.1:{port}" for bind, port in ports.items()}
    for node in ("rabbitmq1", "rabbitmq2", "rabbitmq3"):
        for port in _NODE_PORTS:
            target = backends.get(f"{node}:{port}")
            replacements[f"{node}:{port}"] = f"127.0.0.1:{target if target else 9}"
    config = rewrite(HAPROXY_CFG.read_text(), replacements, source=HAPROXY_CFG)
    listen = ports[f"bind :{front}"]
    haproxy = HAProxy.start(config, workdir, listen_port=listen)
    try:
        yield listen
    finally:
        haproxy.stop()
