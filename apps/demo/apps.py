from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo organization's content for a first run (`make run`, `manage.py demo_seed`): it seeds
    bots, documents, catalog, progress and recommendations, so it sits above every other app and no
    app imports it. It registers its seed as a devstack first-run step (apps/core/firstrun.py)."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo"

    def ready(self):
        from apps.core.firstrun import first_run_register
        from apps.demo.services import demo_first_run

        first_run_register(demo_first_run)
