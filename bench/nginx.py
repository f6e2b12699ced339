"""The static upstream: nginx (Debian package) on 127.0.0.1 serving the generated tree.

Two listeners on the same tree, both ``sendfile on``: ``logged`` (the proxies' upstream; its
access log lines are the "upstream hits") and ``reference`` (no log: what a client gets by
pointing straight at a static server, the column ``nginx``).
"""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path

from procs import Started

CONF = """\
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    types {{ text/html html; application/octet-stream whl; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    absolute_redirect off;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    log_format hits '$request_method $request_uri $status $body_bytes_sent';
    server {{
        listen 127.0.0.1:{logged};
        root {tree};
        index index.html;
        access_log {work}/access.log hits;
    }}
    server {{
        listen 127.0.0.1:{reference};
        root {tree};
        index index.html;
        access_log off;
    }}
}}
"""


class Nginx:
    def __init__(self, work: Path, tree: Path, logged: int, reference: int) -> None:
        self.work, self.tree = work, tree
        self.logged_url = f"http://127.0.0.1:{logged}/simple/"
        self.reference_url = f"http://127.0.0.1:{reference}/simple/"
        self.access_log = work / "access.log"
        self._ports = (logged, reference)
        self.process: Started | None = None

    def start(self) -> None:
        (self.work / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.work / "nginx.conf"
        # As root, nginx's workers would run as "nobody": keep them as the tree's owner.
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(
            CONF.format(
                workers="auto",
                work=self.work,
                user=user,
                tree=self.tree,
                logged=self._ports[0],
                reference=self._ports[1],
            )
        )
        argv = ["nginx", "-p", str(self.work), "-c", str(conf), "-g", "daemon off;"]
        self.process = Started(argv, self.work / "nginx.out")
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                for url in (self.logged_url, self.reference_url):
                    urllib.request.urlopen(url, timeout=2).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer on {self.reference_url}; see {self.work}")

    def hits(self) -> int:
        """Requests the logged listener has answered so far."""
        if not self.access_log.exists():
            return 0
        with self.access_log.open("rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
