"""deploy/kafka.sh runs a real broker that clients can use, and its lifecycle commands behave.

Runs the script on free ports and a private var dir, so it never touches a broker on 9092.
The jar cache is the shared one (MCU_KAFKA_CACHE or ~/.cache/mcu/kafka/<version>): the first run
on a fresh machine downloads the jars with Maven.
"""

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

pytestmark = pytest.mark.kafka

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka.sh"
# Above Kafka's 1 MiB default, so this only passes if the broker took message.max.bytes.
BIG_RECORD_BYTES = 2 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Runner:
    def __init__(self, var_dir: Path) -> None:
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if k != "MCU_KAFKA_EXTRA_PROPERTIES"}
        self.env |= {
            "MCU_KAFKA_PORT": str(self.port),
            "MCU_KAFKA_CONTROLLER_PORT": str(_free_port()),
            "MCU_VAR_DIR": str(var_dir),
        }
        self.pid_file = var_dir / "kafka" / "kafka.pid"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=300, check=False
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java on this machine")
    r = Runner(tmp_path / "var")
    yield r
    r.run("kill")  # whatever failed above, never leave a broker behind


def _produce(bootstrap: str, topic: str, records: dict[bytes, bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=8 * 1024 * 1024)
    try:
        for key, value in records.items():
            producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def _consume(bootstrap: str, topic: str, want: set[bytes]) -> dict[bytes, bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15_000,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    got: dict[bytes, bytes] = {}
    try:
        for record in consumer:
            got[record.key] = record.value
            if want <= got.keys():
                break
    finally:
        consumer.close()
    return got


def test_start_produce_consume_restart_stop(runner: Runner) -> None:
    started = runner.run("start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert runner.run("status").returncode == 0
    pid = runner.pid_file.read_text().strip()

    topic = f"runner.test.{uuid.uuid4().hex[:8]}"  # auto-created by the broker
    records = {b"small": "привет".encode(), b"big": os.urandom(BIG_RECORD_BYTES)}
    _produce(runner.bootstrap, topic, records)
    assert _consume(runner.bootstrap, topic, set(records)) == records

    again = runner.run("start")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert runner.pid_file.read_text().strip() == pid

    # Data survives a clean stop and a new start.
    assert runner.run("stop").returncode == 0
    assert runner.run("start").returncode == 0
    assert _consume(runner.bootstrap, topic, set(records)) == records

    stopped = runner.run("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not runner.pid_file.exists()
    assert not _port_open(runner.port)
    assert runner.run("status").returncode != 0
    assert runner.run("stop").returncode == 0  # stopping a stopped broker is harmless


def test_stale_pid_file_does_not_block_start(runner: Runner) -> None:
    runner.pid_file.parent.mkdir(parents=True)
    runner.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a broker
    assert runner.run("status").returncode != 0
    started = runner.run("start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert runner.pid_file.read_text().strip() != str(os.getpid())
    killed = runner.run("kill")
    assert killed.returncode == 0 and "SIGKILL" in killed.stdout
    assert runner.run("status").returncode != 0


@pytest.mark.slow
def test_three_node_cluster_status_per_node_and_a_node_lost(tmp_path: Path) -> None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java on this machine")
    r = Runner(tmp_path / "var")
    ports = [_free_port() for _ in range(6)]
    r.env |= {
        "MCU_KAFKA_PORTS": ",".join(map(str, ports[:3])),
        "MCU_KAFKA_CONTROLLER_PORTS": ",".join(map(str, ports[3:])),
    }
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    try:
        started = r.run("start", "--brokers", "3")
        assert started.returncode == 0, started.stdout + started.stderr
        status = r.run("status")  # no --brokers: the state remembers the cluster's size
        assert status.returncode == 0, status.stdout + status.stderr
        lines = status.stdout.splitlines()
        assert len(lines) == 3 and all(f"node {i}: up (pid " in lines[i - 1] for i in (1, 2, 3)), lines
        for i in (1, 2, 3):
            assert (tmp_path / "var" / "kafka" / f"node-{i}" / "kafka.pid").exists()
        config = (tmp_path / "var" / "kafka" / "node-2" / "config" / "server.properties").read_text()
        assert "min.insync.replicas=2" in config and "default.replication.factor=3" in config

        # An auto-created topic has 3 replicas; with one node SIGKILLed acks=all writes still succeed
        # (2 in sync), and the node comes back alone with `start`.
        topic = f"cluster.test.{uuid.uuid4().hex[:8]}"
        _produce(bootstrap, topic, {b"before": b"1"})
        killed = r.run("kill", "--node", "2")
        assert killed.returncode == 0 and "node 2 killed" in killed.stdout, killed.stdout + killed.stderr
        after_kill = r.run("status")
        assert after_kill.returncode == 1 and "node 2: down" in after_kill.stdout, after_kill.stdout
        _produce(bootstrap, topic, {b"during": b"2"})
        back = r.run("start")
        assert back.returncode == 0 and "node 1 already running" in back.stdout, back.stdout + back.stderr
        assert "node 2 running" in back.stdout
        assert _consume(bootstrap, topic, {b"before", b"during"}) == {b"before": b"1", b"during": b"2"}
        stopped = r.run("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert not any(_port_open(p) for p in ports[:3])
    finally:
        r.run("kill")
