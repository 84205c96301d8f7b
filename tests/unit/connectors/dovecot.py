"""A real IMAP server for the tests: Debian's dovecot, on a free loopback port, config in tmp.

Install: ``apt-get install -y dovecot-imapd``. Messages are delivered by writing Maildir files,
which dovecot indexes (and gives UIDs) on the next IMAP command, as a real MTA delivery would.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

USER, PASSWORD = "mcu-test", "synthetic-password"
# dovecot will not serve mail as root; the mailbox belongs to an unprivileged system account.
MAIL_ACCOUNT = "nobody"


def available() -> bool:
    return shutil.which("dovecot") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.maildir = root / "mail" / USER
        self.proc: subprocess.Popen[bytes] | None = None
        account = pwd.getpwnam(MAIL_ACCOUNT)
        self.uid, self.gid = account.pw_uid, account.pw_gid

    def config(self) -> Path:
        for d in ("run", "state", "home", "mail"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        for d in (self.root / "mail", self.maildir, *(self.maildir / s for s in ("new", "cur", "tmp"))):
            os.chown(d, self.uid, self.gid)
        (self.root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        conf = self.root / "dovecot.conf"
        conf.write_text(f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{self.root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# tmp_path is private to root; the auth process must be able to read the users file there.
service auth {{
  user = root
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
        return conf

    def start(self) -> None:
        conf = self.config()
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot exited {self.proc.returncode}: {out}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("dovecot did not open its port within 15 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def deliver(self, raw: bytes) -> None:
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.mcu-test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, self.uid, self.gid)
        tmp.rename(self.maildir / "new" / name)
