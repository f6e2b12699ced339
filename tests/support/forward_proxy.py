"""A forward HTTP proxy on 127.0.0.1 for outbound-proxy tests: it answers absolute-form
requests (``GET http://host:port/path``) by fetching them itself, and records each target."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from types import TracebackType

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te"}


class ForwardProxy:
    def __init__(self) -> None:
        self.targets: list[str] = []
        self.proxy_authorizations: list[str | None] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.targets.append(self.path)
                proxy.proxy_authorizations.append(self.headers.get("Proxy-Authorization"))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("proxy-")
                }
                direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    response = direct.open(urllib.request.Request(self.path, headers=headers))
                except urllib.error.HTTPError as error:
                    response = error
                with response:
                    body = response.read()
                    self.send_response(response.status)
                    for key, value in response.headers.items():
                        if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
