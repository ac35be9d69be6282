"""Domain events of users (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the account services (and the member sync of organizations, which updates
the profiles of the accounts it manages), inside the caller's transaction, with ids and field
names only; users never imports the apps that listen.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

#: Profile fields of users changed. Arguments: user_ids (sorted unique), fields (sorted names of
#: the changed profile fields, e.g. ["interests"]).
user_profile_changed = Signal()


def user_profile_changed_send(*, user_ids: Iterable[int], fields: Iterable[str]) -> None:
    user_ids, fields = sorted(set(user_ids)), sorted(set(fields))
    if user_ids and fields:
        user_profile_changed.send(sender="users", user_ids=user_ids, fields=fields)
