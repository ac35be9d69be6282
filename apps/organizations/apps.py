from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "apps.organizations"
    label = "organizations"
    verbose_name = "Organizations"

    def ready(self):
        from apps.core.health import health_figure_register
        from apps.organizations import (
            authentication,  # noqa: F401 - registers the OpenAPI description of `Authorization: Api-Key ...`
            receivers,
            selectors,
        )

        receivers.connect()
        health_figure_register(
            check="database", name="organization_purges", figure=selectors.organization_purge_backlog
        )
