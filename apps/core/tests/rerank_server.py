"""A real local HTTP reranker for tests: http.server in a thread, answering POST /rerank in the
Cohere/Jina shape or TEI's, scoring each document by how many of the query's words it holds."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORD = re.compile(r"\w+")


def overlap_score(query: str, document: str) -> float:
    words = set(WORD.findall(query.lower()))
    return float(sum(1 for word in set(WORD.findall(document.lower())) if word in words))


class RerankServer:
    """`shape`: "cohere" (results/relevance_score, sorted best first) or "tei" (a list of index/score).
    `status`: the HTTP status to answer with (500 to play an outage). `requests`: bodies received."""

    def __init__(self, shape: str = "cohere", status: int = 200, score=overlap_score):
        self.shape, self.status, self.score = shape, status, score
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if self.path != "/rerank" or server.status != 200:
                    self.send_response(server.status if server.status != 200 else 404)
                    self.end_headers()
                    return
                documents = body.get("documents") if server.shape == "cohere" else body.get("texts")
                scored = [(i, server.score(body["query"], d)) for i, d in enumerate(documents)]
                scored.sort(key=lambda pair: -pair[1])
                if server.shape == "cohere":
                    payload = {"results": [{"index": i, "relevance_score": s} for i, s in scored]}
                else:
                    payload = [{"index": i, "score": s} for i, s in scored]
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Shut down and close the port: a later request is refused (an outage)."""
        if self.thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()
