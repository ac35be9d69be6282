"""The base class of every API under /api/v1/orgs/{org}/bots/{bot}/... (documents, search, chat), owned
by bots so that those apps share it without importing each other's views."""

from apps.bots.selectors import bot_get
from apps.organizations.tenancy import OrganizationAPIView


class BotScopedApi(OrganizationAPIView):
    """Resolves `bot_id` inside the caller's organization (404 otherwise) before any handler runs."""

    bot = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.bot = bot_get(organization=self.organization, bot_id=kwargs["bot_id"])
