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


#: A person deletes their own account (`user_delete`, docs/api.md#deleting-your-account), inside its transaction, before
#: the account is anonymised: every organization they belong to erases them as `members/{id}/erase/` does (a refusal,
#: such as being the last owner, is raised and rolls everything back). Arguments: user_id.
user_deleting = Signal()


def user_deleting_send(*, user_id: int) -> None:
    user_deleting.send(sender="users", user_id=user_id)
