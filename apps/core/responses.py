"""Responses that finish their work after the client has them.

`AfterResponse` is a DRF `Response` with a list of callables run by its `close()`: the WSGI server calls
`close()` once the body is sent (PEP 3333), Django's ASGI handler once the last body message is out, and
Django's test client right after the view returns, so tests see the work done. It is for writes whose
result the response already carries (the recommendations log: ids allocated before, rows written after)
and that need not hold the client up.

Each callable runs in the request's own thread, with the request's database connection, before
`request_finished` returns that connection to the pool; an exception is logged with its traceback and
does not stop the next callable (Django's `close()` would swallow it silently). The work must not need
the request: the middleware chain has already finished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rest_framework.response import Response

logger = logging.getLogger(__name__)


class AfterResponse(Response):
    def __init__(self, data=None, *, after: list[Callable[[], None]], **kwargs):
        super().__init__(data, **kwargs)
        self.after = after

    def close(self):
        for work in self.after:
            try:
                work()
            except Exception:
                logger.exception("Work after the response failed (%s)", getattr(work, "__qualname__", work))
        self.after = []
        super().close()
