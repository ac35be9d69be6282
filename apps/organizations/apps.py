from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "apps.organizations"
    label = "organizations"
    verbose_name = "Organizations"

    def ready(self):
        # Registers the OpenAPI description of `Authorization: Api-Key ...`.
        from apps.organizations import (
            authentication,  # noqa: F401
            receivers,
        )

        receivers.connect()
