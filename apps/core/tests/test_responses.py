"""AfterResponse (apps/core/responses.py): its work runs at close(), in order, once; a failing piece is logged
with its traceback and does not stop the next one or the response's own close (request_finished)."""

import logging

from django.core.signals import request_finished

from apps.core.responses import AfterResponse


def test_work_runs_at_close_in_order_once_and_failures_are_logged(caplog):
    done, finished = [], []

    def fails():
        raise RuntimeError("the write failed")

    def on_finished(**kwargs):
        finished.append(list(done))

    response = AfterResponse({"ok": True}, after=[lambda: done.append("first"), fails, lambda: done.append("last")])
    request_finished.connect(on_finished)
    try:
        assert done == []  # nothing before close()
        with caplog.at_level(logging.ERROR, logger="apps.core.responses"):
            response.close()
            response.close()  # a second close() does not run the work again
    finally:
        request_finished.disconnect(on_finished)
    assert done == ["first", "last"]
    assert finished[0] == ["first", "last"]  # the work ran before the request was reported finished
    [record] = caplog.records
    assert "Work after the response failed" in record.getMessage() and record.exc_info[1].args == ("the write failed",)
