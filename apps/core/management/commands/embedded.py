"""`manage.py embedded start|stop|status`: the embedded PostgreSQL, Redis and graph of `.beacon/`."""

import json

from django.core.management.base import BaseCommand

from apps.core import embedded


class Command(BaseCommand):
    help = "Start, stop or show the embedded development/test services under .beacon/."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args, action, **options):
        if action == "start":
            pg = embedded.postgres_ensure()
            redis = embedded.redis_ensure()
            graph = embedded.graph_ensure()
            self.stdout.write(f"PostgreSQL: unix socket in {pg.socket_dir} (port {pg.port}), database 'beacon'")
            self.stdout.write(f"Redis:      redis://127.0.0.1:{redis['port']} (broker, results, cache)")
            self.stdout.write(f"Graph:      bolt://127.0.0.1:{graph['bolt_port']} (FalkorDB, own port {graph['port']})")
        elif action == "stop":
            stopped = embedded.stop()
            for name, was_running in stopped.items():
                self.stdout.write(f"{name}: {'stopped' if was_running else 'was not running'}")
        else:
            self.stdout.write(json.dumps(embedded.status(), default=str, indent=2))
