"""A three-node Kafka cluster of our own (deploy/kafka.sh on free ports, its own var dir), for the
cluster tests and bench/scale.py --cluster. The shared broker on 9092 is never touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kafkaio import clients
from tests.integration.harness import ROOT, free_port, settings_of

KAFKA_SH = str(ROOT / "deploy" / "kafka.sh")


class Cluster:
    def __init__(self, var_dir: Path) -> None:
        ports = [free_port() for _ in range(6)]
        self.ports = ports[:3]
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "MCU_VAR_DIR": str(var_dir),
            "MCU_KAFKA_PORTS": ",".join(map(str, ports[:3])),
            "MCU_KAFKA_CONTROLLER_PORTS": ",".join(map(str, ports[3:])),
        }
        if "JAVA_HOME" in os.environ:
            self.env["JAVA_HOME"] = os.environ["JAVA_HOME"]
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def sh(self, *args: str) -> str:
        done = subprocess.run([KAFKA_SH, *args], env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 or args[0] == "status", f"kafka.sh {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def start(self) -> Cluster:
        self.sh("start", "--brokers", "3")
        return self

    def stop(self) -> None:
        """Stop every node, and SIGKILL what did not stop: nothing of ours outlives the run."""
        subprocess.run([KAFKA_SH, "stop"], env=self.env, capture_output=True, timeout=300, check=False)
        subprocess.run([KAFKA_SH, "kill"], env=self.env, capture_output=True, timeout=120, check=False)

    def leaders(self, topic: str) -> dict[int, int]:
        """partition -> node id leading it."""
        admin = clients.admin(settings_of({"MCU_KAFKA_BROKERS": self.bootstrap}).kafka)
        try:
            (described,) = admin.describe_topics([topic])
        finally:
            admin.close()
        return {p["partition_index"]: p["leader_id"] for p in described["partitions"]}

    def busiest_leader(self, topic: str) -> int:
        """The node leading most partitions of ``topic``."""
        nodes = list(self.leaders(topic).values())
        return max(set(nodes), key=nodes.count)

    def all_up(self) -> None:
        self.sh("start")
