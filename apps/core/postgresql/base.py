"""PostgreSQL as Django's backend has it, with pooled connections checked when they may have gone bad, not on every
request (DATABASES ENGINE "apps.core.postgresql", config/settings/base.py).

psycopg's pool (Django's `pool` option, DATABASE_POOL in config/settings/base.py) checks a connection each
time it hands one out when Django's CONN_HEALTH_CHECKS is on: an empty query, one round trip to PostgreSQL
before the request's first statement. A connection that served a request a moment ago has not had time to
go bad in a way that check would catch only then, and on a small machine that round trip is not free: the
request's first message to a backend that has gone to sleep is the one that pays for waking it.

`IdleCheck` (the pool's `check`) therefore checks only a connection that has been idle in the pool
for DATABASE_POOL_CHECK_AFTER seconds or longer (settings; 1 by default, 0 checks every checkout as Django
does; with CONN_HEALTH_CHECKS off nothing is checked),
measured from the pool's `reset` call when the connection came back (`IdleCheck.returned`). What it
still catches: every connection idle across a PostgreSQL restart or failover (those take longer than a
second, and connections are returned before them), one ended by idle_session_timeout, a proxy's idle
timeout or a network drop while it waited. What it leaves to the request: a backend killed within the
second after it served a request; that request fails as any request does when the database goes away
mid-request (a 503 in the error envelope, apps/core/exceptions.py) and the pool replaces the connection
when it comes back broken. A connection that was never returned (new from the pool) is checked.

Django builds the pool itself and always passes its own `check` (psycopg's, or None), so `DatabaseWrapper.pool`
builds it as Django does (the same arguments, the same per-alias registry) with `IdleCheck` instead.
"""

from __future__ import annotations

import weakref
from time import monotonic

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base as postgresql
from psycopg_pool import ConnectionPool


class IdleCheck:
    """The pool's `check` (this object) and `reset` (`returned`) callbacks for one pool."""

    def __init__(self, *, after: float):
        #: seconds a pooled connection may sit idle before it is checked on its way out of the pool
        self.after = after
        # when each idle connection came back (weak: a connection the pool closed and dropped leaves nothing)
        self._returned_at: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def returned(self, conn) -> None:
        """`reset`: note when the connection came back to the pool (it is left as it is: idle)."""
        self._returned_at[conn] = monotonic()

    def __call__(self, conn) -> None:
        """`check`: psycopg's own check (an empty query; it raises when the connection is bad, and the pool
        then replaces it) for a connection idle for `after` seconds or more, or never returned yet."""
        returned = self._returned_at.pop(conn, None)
        if returned is not None and monotonic() - returned < self.after:
            return
        ConnectionPool.check_connection(conn)


class DatabaseWrapper(postgresql.DatabaseWrapper):
    @property
    def pool(self):
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == postgresql.NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            options = {} if pool_options is True else dict(pool_options)
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # as Django: it sets the connection's own mode later
            check = None
            if self.settings_dict["CONN_HEALTH_CHECKS"]:
                check = IdleCheck(after=settings.DATABASE_POOL_CHECK_AFTER)
            pool = ConnectionPool(
                kwargs=connect_kwargs,
                open=False,  # opened on first use, as Django does
                configure=self._configure_connection,
                check=check,
                reset=check.returned if check else None,
                **options,
            )
            self._connection_pools.setdefault(self.alias, pool)  # the first of racing threads wins, as in Django
        return self._connection_pools[self.alias]
