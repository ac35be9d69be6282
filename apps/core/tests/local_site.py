"""A small website on 127.0.0.1 for fetch and crawl tests: an `http.server` in a thread serving
`pages` (path -> Page), answering 304 to a matching If-None-Match or If-Modified-Since, recording every
request."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Set: the handler waits for it before answering (a test holds a crawl on this page).
    hold: threading.Event | None = None


class LocalSite:
    def __init__(self):
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers)
        self.reached = threading.Event()  # set when a held page is requested
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                page = site.pages.get(self.path)
                if page is None:
                    self._answer(404, {"Content-Type": "text/plain"}, b"not found")
                    return
                if page.hold is not None:
                    site.reached.set()
                    page.hold.wait(60)
                etag, modified = page.headers.get("ETag"), page.headers.get("Last-Modified")
                if (etag and self.headers.get("If-None-Match") == etag) or (
                    modified and self.headers.get("If-Modified-Since") == modified
                ):
                    self._answer(304, {}, b"")
                    return
                self._answer(page.status, {"Content-Type": page.content_type, **page.headers}, page.body)

            def _answer(self, status, headers, body):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        for page in self.pages.values():
            if page.hold is not None:
                page.hold.set()
        self.server.shutdown()
        self.server.server_close()
