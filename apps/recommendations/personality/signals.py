"""Decoupled notifications (house rule: signals only for cache invalidation or notifications): a new
interaction, progress change or chat message of a user counts as new personality evidence, after
commit. The receivers run no query; the debounce lives in Redis (services.personality_evidence_note).
Bulk ingestion fires no signals: the beat sweep (profile_recompute_stale) catches those users."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.conversations.models import Message
from apps.progress.models import Interaction, Progress


def _note(organization_id: int, user_id: int) -> None:
    from apps.recommendations.personality.services import personality_evidence_note

    personality_evidence_note(organization_id=organization_id, user_id=user_id)


@receiver(post_save, sender=Interaction, dispatch_uid="personality.interaction_saved")
@receiver(post_save, sender=Progress, dispatch_uid="personality.progress_saved")
def evidence_saved(sender, instance, created=False, **kwargs):
    if sender is Interaction and not created:
        return
    organization_id, user_id = instance.organization_id, instance.user_id
    transaction.on_commit(lambda: _note(organization_id, user_id))


@receiver(post_save, sender=Message, dispatch_uid="personality.message_saved")
def message_saved(sender, instance, created=False, **kwargs):
    if not created or instance.role != Message.Role.USER:
        return
    organization_id, conversation_id = instance.organization_id, instance.conversation_id

    def note():
        from apps.conversations.models import Conversation

        user_id = Conversation.objects.filter(pk=conversation_id).values_list("user_id", flat=True).first()
        if user_id is not None:  # anonymous widget visitors have no profile
            _note(organization_id, user_id)

    transaction.on_commit(note)
