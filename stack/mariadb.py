"""MariaDB for Azurite's blob metadata, so that nothing Azurite acknowledged is lost in a crash.

Azurite's default metadata store (LokiJS) lives in memory and is saved every 5 s: a kill -9
loses the blobs of the last seconds. With `AZURITE_DB=mysql://…` Azurite commits each
blob's metadata in the database before it answers, and InnoDB with
innodb_flush_log_at_trx_commit=1 makes every commit durable (redo log fsynced). The
server is the stack's own: its data directory under the stack's, a TCP port on 127.0.0.1
only, one user for Azurite with a password generated per data directory (root can log in
through the socket in that private directory only, never over TCP).

Start-up costs ~1 s the first time (mariadb-install-db) and ~0.1 s after that.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stack.services import Service, ServiceError, free_port, write_private

DATABASE = "azurite"
USER = "azurite"
# Debian puts the server in /usr/sbin, which is not on every user's PATH.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
# Small memory and log sizes: the stack's metadata is a few megabytes. Durability settings are
# the defaults spelled out, so that no configuration file on the machine can weaken them.
_SERVER_OPTIONS = [
    "--innodb-flush-log-at-trx-commit=1",
    "--innodb-doublewrite=1",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=8M",
    "--performance-schema=0",
    "--skip-name-resolve",
    "--max-connections=64",
]


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name, path=_SEARCH_PATH)
        if found:
            return found
    raise ServiceError(f"{' / '.join(names)} not found: `make setup` installs the Debian package mariadb-server")


def _run_as_user() -> list[str]:
    # mariadbd refuses to run as root unless told to; CI runs as root.
    return ["--user=root"] if os.geteuid() == 0 else []


@dataclass
class MariaDB(Service):
    port: int = 0
    password: str = ""

    @property
    def url(self) -> str:
        """What Azurite's AZURITE_DB takes."""
        return f"mysql://{USER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"


def _password(home: Path) -> str:
    path = home / "password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_hex(24)  # hex: nothing to escape in SQL or in a URL
    write_private(path, password)
    return password


def _install(home: Path, datadir: Path) -> None:
    """A new data directory: the system tables, then nothing else (no test database, no anonymous user)."""
    staging = home / "data.partial"
    shutil.rmtree(staging, ignore_errors=True)
    argv = [_tool("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={staging}",
            "--skip-test-db", "--auth-root-authentication-method=socket", *_run_as_user(),
            "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise ServiceError(f"mariadb-install-db failed ({result.returncode}):\n{result.stdout[-2000:]}"
                           f"{result.stderr[-2000:]}")
    staging.rename(datadir)  # only a complete install counts, so a crash here just installs again


def _greets(port: int) -> bool:
    """True once the server sends its handshake: it is past recovery and the init file."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return bool(sock.recv(4))
    except OSError:
        return False


def start_mariadb(data_dir: Path, port: int | None = None) -> MariaDB:
    """The server for data_dir/mariadb (created on first use), started on port or a free one."""
    home = data_dir / "mariadb"
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    datadir = home / "data"
    if not datadir.exists():
        _install(home, datadir)
    password = _password(home)
    # Runs at every start (idempotent), so the user and its password always match the file.
    init = home / "init.sql"
    write_private(init, f"""CREATE DATABASE IF NOT EXISTS {DATABASE};
CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}';
ALTER USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}';
GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{USER}'@'127.0.0.1';
""")
    port = port or free_port()
    sock = home / "mysqld.sock"
    if len(str(sock)) > 100:  # a Unix socket's path has ~107 bytes at most
        sock = Path(tempfile.gettempdir()) / f"mariadb-{hashlib.sha256(bytes(sock)).hexdigest()[:16]}.sock"
    argv = [_tool("mariadbd", "mysqld"), "--no-defaults", f"--datadir={datadir}",
            f"--socket={sock}", f"--pid-file={home / 'mysqld.pid'}",
            f"--port={port}", "--bind-address=127.0.0.1", "--skip-networking=0",
            f"--init-file={init}", *_run_as_user(), *_SERVER_OPTIONS]
    service = MariaDB(name="mariadb", argv=argv, data_dir=data_dir, port=port, password=password)
    service.start()
    service.wait_until(lambda: _greets(port), timeout=60)
    return service
