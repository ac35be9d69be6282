"""A sibling embedding: a real forked process that holds an embedding turn (apps.core.embeddings.embedding_turn)
while the block runs, as another prefork child embedding a document would."""

import os
from contextlib import contextmanager

from apps.core import embeddings


@contextmanager
def sibling_embedding():
    ready_read, ready_write = os.pipe()
    done_read, done_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the sibling: take a turn, say so, hold it until told to finish
        try:
            with embeddings.embedding_turn():
                os.write(ready_write, b"1")
                os.read(done_read, 1)
        finally:
            os._exit(0)
    os.read(ready_read, 1)
    try:
        yield
    finally:
        os.write(done_write, b"1")
        os.waitpid(pid, 0)
        for fd in (ready_read, ready_write, done_read, done_write):
            os.close(fd)
