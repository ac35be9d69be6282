"""Receivers of the organizations app, connected in `OrganizationsConfig.ready()` (STYLE.md §9).

`user_deleting`: a person who deletes their account is erased by each organization of theirs.

Cache invalidation: the API key rows that authentication reads again for API_KEY_CACHE_SECONDS
(selectors.api_key_get_by_prefix) are dropped when a key, an organization or a plan is saved or deleted
in this process, on the spot and again when the transaction commits (a request that read the row between
the write and its commit would otherwise keep the old row). These are `post_save` receivers on purpose:
whatever path writes the row (services, the admin, a shell), the next request reads it fresh. Other
processes read it again within API_KEY_CACHE_SECONDS (docs/security.md "API keys").
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from apps.organizations.models import ApiKey, Organization, Plan
from apps.organizations.selectors import api_key_forget
from apps.users import events as user_events


def on_credentials_changed(sender, **kwargs) -> None:
    api_key_forget()
    transaction.on_commit(api_key_forget, using=kwargs.get("using"))


def on_user_deleting(sender, *, user_id: int, **kwargs) -> None:
    """A person deletes their account: every organization of theirs erases them (services.account_memberships_erase)."""
    from apps.organizations.services import account_memberships_erase

    account_memberships_erase(user_id=user_id)


def connect() -> None:
    user_events.user_deleting.connect(on_user_deleting, dispatch_uid="organizations.on_user_deleting")
    for model in (ApiKey, Organization, Plan):
        name = model.__name__
        post_save.connect(on_credentials_changed, sender=model, dispatch_uid=f"api-key-forget-save-{name}")
        post_delete.connect(on_credentials_changed, sender=model, dispatch_uid=f"api-key-forget-delete-{name}")
