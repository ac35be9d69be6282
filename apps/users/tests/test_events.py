"""Domain events of users (apps/users/events.py, STYLE.md §9): a profile change sends
user_profile_changed with the changed field names, inside the service's transaction."""

import pytest

from apps.core.tests.events import events_sent, only
from apps.users import events
from apps.users.services import user_update
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_profile_changes_send_user_profile_changed():
    user = UserFactory(interests=["math"], full_name="Ada")
    with events_sent(events.user_profile_changed) as sent:
        user_update(user=user, data={"interests": ["poetry"], "full_name": "Ada L."})
        user_update(user=user, data={"interests": ["poetry"]})  # no change: nothing sent
    assert only(sent, events.user_profile_changed) == [{"user_ids": [user.pk], "fields": ["full_name", "interests"]}]
