"""Cache invalidation only (house rule: signals for cache invalidation): a saved interaction or
progress row makes the user's cached recommendation lists stale; so does leaving the organization
(a cache hit then implies membership, see services.recommendations_serve).

Bulk paths fire no signals (`bulk_create`, the batch ingestion's INSERT ... SELECT): they call
`recommendation_cache_invalidate_users` themselves.
"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.organizations.models import Membership
from apps.progress.models import Interaction, Progress
from apps.recommendations.engine.cache import recommendation_cache_invalidate_user


@receiver(post_save, sender=Interaction, dispatch_uid="recommendations.interaction_saved")
@receiver(post_save, sender=Progress, dispatch_uid="recommendations.progress_saved")
def user_cache_invalidate(sender, instance, **kwargs):
    organization_id, user_id = instance.organization_id, instance.user_id
    transaction.on_commit(
        lambda: recommendation_cache_invalidate_user(organization_id=organization_id, user_id=user_id)
    )


@receiver(post_delete, sender=Membership, dispatch_uid="recommendations.membership_deleted")
def member_cache_invalidate(sender, instance, **kwargs):
    user_cache_invalidate(sender, instance)
