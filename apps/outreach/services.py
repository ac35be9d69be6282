"""Outreach writes: campaigns, generation (one message per member of the segment), review edits, sending,
opt-outs, tracked clicks and the unsubscribe link (docs/outreach.md).

Generation and sending run in Celery (workers/tasks/outreach.py) over batches of OUTREACH_BATCH_SIZE
members / OUTREACH_SEND_BATCH_SIZE messages: a fixed number of queries per batch (members, progress,
interests, catalog rows, one upsert), plus the recommendation service per member (its cached list, or a
ranking on a miss). Counts on the campaign are written after each batch.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import formataddr

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from rest_framework import status as http
from rest_framework.exceptions import NotFound, ValidationError

from apps.core.exceptions import ApplicationError
from apps.core.leases import attempts_exhausted, interrupted_message, lease_cutoff, lease_is_fresh
from apps.core.purge import delete_in_order
from apps.core.tasks import enqueue_on_commit
from apps.organizations.models import Membership
from apps.organizations.services import plan_limit_check, plan_limit_lock
from apps.outreach import selectors
from apps.outreach.compose import Draft, compose
from apps.outreach.models import Campaign, CampaignMessage, OutreachOptOut
from apps.personality.instrument import TRAITS
from apps.progress.models import ContentItem, InteractionKind
from workers.tasks.outreach import campaign_generate_task, campaign_send_task

logger = logging.getLogger(__name__)

PROGRESS_STATES = ("has_in_progress", "completed_none", "completed_some", "started_none")
EDITABLE = (Campaign.Status.DRAFT, Campaign.Status.READY, Campaign.Status.FAILED)
CLICK_SALT = "outreach.click"
UNSUBSCRIBE_SALT = "outreach.unsubscribe"
#: recommendation sources whose reason says nothing about the member (popularity, recency, filler)
GENERIC_SOURCES = {"popular"}

# --------------------------------------------------------------------------- campaigns


def campaign_filters_clean(*, organization, filters: dict) -> dict:
    """The segment filters, normalized; ValidationError for a malformed one, 403
    `personality_admin_access_disabled` for trait filters the organization does not allow (personality
    data is the member's own unless the organization enabled admin access, issue 8)."""
    filters = dict(filters or {})
    unknown = set(filters) - {"interests", "progress", "inactive_days", "traits"}
    if unknown:
        raise ValidationError({"filters": [f"Unknown filter(s): {', '.join(sorted(unknown))}."]})
    clean: dict = {}
    interests = filters.get("interests") or []
    if not isinstance(interests, list) or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in interests):
        raise ValidationError({"filters": ["interests: a list of strings (1-64 characters)."]})
    if interests:
        clean["interests"] = sorted({value.strip().lower() for value in interests})[:50]
    progress = filters.get("progress") or []
    if not isinstance(progress, list) or not set(progress) <= set(PROGRESS_STATES):
        raise ValidationError({"filters": [f"progress: a list of {', '.join(PROGRESS_STATES)}."]})
    if progress:
        clean["progress"] = sorted(set(progress))
    days = filters.get("inactive_days")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            raise ValidationError({"filters": ["inactive_days: a whole number of days from 1 to 3650."]})
        clean["inactive_days"] = days
    traits = filters.get("traits") or {}
    if not isinstance(traits, dict) or not set(traits) <= set(TRAITS):
        raise ValidationError({"filters": [f"traits: an object keyed by {', '.join(TRAITS)}."]})
    if traits:
        if not organization.personality_admin_access:
            raise ApplicationError(
                "Segments by personality trait need the organization setting 'personality admin access' "
                "(personality profiles are the member's own otherwise).",
                code="personality_admin_access_disabled",
                status_code=http.HTTP_403_FORBIDDEN,
            )
        clean["traits"] = {}
        for trait, bounds in traits.items():
            if not isinstance(bounds, dict) or not set(bounds) <= {"min", "max"}:
                raise ValidationError({"filters": [f"traits.{trait}: an object with min and/or max."]})
            for key, value in bounds.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise ValidationError({"filters": [f"traits.{trait}.{key}: a number from 0 to 1."]})
            if bounds:  # a trait without bounds selects nothing less
                clean["traits"][trait] = {key: float(value) for key, value in bounds.items()}
        if not clean["traits"]:
            del clean["traits"]
    return clean


def _one_line(data: dict) -> dict:
    """The sender's name goes into a From header: whitespace (newlines included) collapsed to single spaces."""
    if "sender_name" in data:
        data["sender_name"] = " ".join(data["sender_name"].split())
    return data


def campaign_create(*, organization, created_by, filters: dict | None = None, **data) -> Campaign:
    data = _one_line(data)
    campaign = Campaign(
        organization=organization,
        created_by=created_by,
        filters=campaign_filters_clean(organization=organization, filters=filters or {}),
        **data,
    )
    campaign.full_clean()
    campaign.save()
    return campaign


def _editable(campaign: Campaign) -> None:
    if campaign.status not in EDITABLE:
        raise ApplicationError(
            f"The campaign is {campaign.status}; it can change only as a draft, when ready or after a failure.",
            code="campaign_locked",
            status_code=http.HTTP_409_CONFLICT,
        )


def campaign_update(*, campaign: Campaign, **data) -> Campaign:
    _editable(campaign)
    data = _one_line(data)
    if "filters" in data:
        data["filters"] = campaign_filters_clean(organization=campaign.organization, filters=data["filters"])
    for name, value in data.items():
        setattr(campaign, name, value)
    campaign.full_clean()
    campaign.save()
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    if campaign.status in (Campaign.Status.GENERATING, Campaign.Status.SENDING):
        raise ApplicationError(
            f"The campaign is {campaign.status}; wait until it finishes.", code="campaign_busy", status_code=409
        )
    campaign.delete()


# --------------------------------------------------------------------------- links


def public_url(path: str) -> str:
    return f"{settings.BEACON_PUBLIC_URL}{path}"


def click_url(*, campaign_id: int, user_id: int, item_id: int) -> str:
    token = signing.dumps({"c": campaign_id, "u": user_id, "i": item_id}, salt=CLICK_SALT, compress=True)
    return public_url(reverse("outreach-public:click", args=[token]))


def unsubscribe_url(*, organization_id: int, user_id: int) -> str:
    """Signed, never expiring (an unsubscribe link must keep working): it names the member and organization."""
    token = signing.dumps({"o": organization_id, "u": user_id}, salt=UNSUBSCRIBE_SALT, compress=True)
    return public_url(reverse("outreach-public:unsubscribe", args=[token]))


# --------------------------------------------------------------------------- generation


def _catalog_index(organization) -> dict[int, str]:
    """{id: lower-cased title} of the active catalog, loaded once per generation when an LLM writes: the
    items its copy may name exist here, and a title it names that is not a candidate is an invention."""
    rows = ContentItem.objects.filter(organization=organization, active=True).values_list("id", "title")
    return {item_id: title.lower() for item_id, title in rows.iterator(chunk_size=2000)}


def member_candidates(*, campaign: Campaign, user_id: int, member: dict) -> list[dict]:
    """The items a message may mention: for `resume_course` the member's unfinished items first, then their
    recommendations (the service the REST API serves, with its reasons) up to OUTREACH_CANDIDATES. Reasons
    never carry the personality fit (personal_reasons=False): the copy is reviewed by admins. A generation ranks
    thousands of members: it enqueues no knowledge-graph refresh per member (graph_refresh=False); stale graph
    rows still serve, and the member's next request through the API refreshes them."""
    from apps.recommendations.engine.ranking import RankRequest
    from apps.recommendations.services import recommendations_serve

    size = settings.OUTREACH_CANDIDATES
    candidates: list[dict] = []
    if campaign.goal == "resume_course":
        candidates = [dict(item) for item in member["in_progress"][:size]]
    taken = {item["id"] for item in member["in_progress"]}
    if len(candidates) < size:
        served = recommendations_serve(
            organization=campaign.organization, user_id=user_id,
            request=RankRequest(size=size + len(taken), graph_refresh=False), offset=0, limit=size + len(taken),
            verify_member=False, personal_reasons=False,
        )  # fmt: skip
        interests = set(member["interests"])
        for entry in served["results"]:
            item = entry["item"]
            if item["id"] in taken or len(candidates) >= size:
                continue
            matched = sorted(interests & {value.lower() for value in [*item["tags"], *item["categories"]]})
            reason = entry["reason"]
            if matched and entry["source"] in GENERIC_SOURCES:  # a truer reason than "popular right now"
                reason = f"Matches your interest in {matched[0]}"
            candidates.append(
                {"id": item["id"], "title": item["title"], "kind": item["kind"], "url": item["url"], "reason": reason,
                 "percent": None, "interest": bool(matched)}
            )  # fmt: skip
        # Items the member said they care about first (stable: the recommender's order otherwise).
        candidates.sort(key=lambda item: item.get("percent") is None and not item.get("interest"))
    return candidates


def _draft_for(*, campaign, user_id, member, catalog, index, use_llm) -> Draft | None:
    candidates = [
        {**item, "price": catalog[item["id"]]["price"]}
        for item in member["candidates"]
        if item["id"] in catalog and catalog[item["id"]]["active"]
    ]
    if not candidates:
        return None
    context = {
        "sender_name": campaign.sender_name,
        "organization": campaign.organization.name,
        "unsubscribe_url": unsubscribe_url(organization_id=campaign.organization_id, user_id=user_id),
        "link": lambda item_id: click_url(campaign_id=campaign.pk, user_id=user_id, item_id=item_id),
    }
    return compose(
        campaign=campaign, member=member, candidates=candidates, index=index, context=context, use_llm=use_llm
    )


def _drafts(
    *, campaign: Campaign, user_ids: list[int], index: dict[int, str], use_llm: bool
) -> dict[int, Draft | None]:
    """Drafts of a batch of members: one load of their data and of the catalog rows of all their candidates."""
    members = selectors.members_load(organization=campaign.organization, user_ids=user_ids)
    # One transaction for the batch's recommendation logs (the service writes one per member and joins an
    # open transaction instead of committing each); no remote call inside: the LLM writes after it.
    with transaction.atomic():
        for user_id, member in members.items():
            member["candidates"] = member_candidates(campaign=campaign, user_id=user_id, member=member)
    catalog = selectors.catalog_items(
        organization=campaign.organization, item_ids={i["id"] for m in members.values() for i in m["candidates"]}
    )
    return {
        user_id: _draft_for(campaign=campaign, user_id=user_id, member=member, catalog=catalog, index=index,
                            use_llm=use_llm)
        for user_id, member in members.items()
    }  # fmt: skip


def _use_llm() -> bool:
    from apps.conversations.chat import llm_enabled

    return llm_enabled()


def campaign_preview(*, campaign: Campaign, user_id: int) -> tuple[Draft | None, dict]:
    """The message one member would get now (nothing stored), and the member's data it was written from.
    The member must belong to the organization (404 otherwise); opted-out members are previewed too."""
    if not Membership.objects.filter(organization=campaign.organization, user_id=user_id).exists():
        raise NotFound("User not found.")
    index = _catalog_index(campaign.organization) if _use_llm() else {}
    members = selectors.members_load(organization=campaign.organization, user_ids=[user_id])
    member = members[user_id]
    member["candidates"] = member_candidates(campaign=campaign, user_id=user_id, member=member)
    catalog = selectors.catalog_items(
        organization=campaign.organization, item_ids={i["id"] for i in member["candidates"]}
    )
    draft = _draft_for(campaign=campaign, user_id=user_id, member=member, catalog=catalog, index=index,
                       use_llm=_use_llm())  # fmt: skip
    return draft, member


@transaction.atomic
def campaign_generate_start(*, campaign: Campaign) -> Campaign:
    """Check the campaign and the plan, drop its unsent messages, mark it generating and enqueue the
    generation. The plan's max_monthly_outreach_messages counts this month's messages and the places other campaigns
    being generated hold, plus the segment; generations started at the same moment take turns to count (the plan
    lock, before the campaign's row: one order everywhere)."""
    plan_limit_lock(organization=campaign.organization, limit="max_monthly_outreach_messages")
    campaign = Campaign.objects.select_for_update().select_related("organization__plan").get(pk=campaign.pk)
    _editable(campaign)
    campaign.filters = campaign_filters_clean(organization=campaign.organization, filters=campaign.filters)
    CampaignMessage.objects.filter(campaign=campaign, status=CampaignMessage.Status.READY).delete()
    total = selectors.segment_members(campaign=campaign).count()
    if total == 0:
        raise ApplicationError("No member matches the campaign's segment.", code="segment_empty")
    plan_limit_check(
        organization=campaign.organization,
        limit="max_monthly_outreach_messages",
        used=selectors.messages_counted_this_month(organization=campaign.organization),
        adding=total,
    )
    campaign.status = Campaign.Status.GENERATING
    campaign.members_total = total
    campaign.generated_count = campaign.skipped_count = campaign.fallback_count = campaign.failed_count = 0
    campaign.sent_count = campaign.opted_out_count = 0
    campaign.last_error = ""
    campaign.generation_started_at, campaign.generated_at = timezone.now(), None
    _lease_reset(campaign, interruptions=0)
    campaign.save()
    enqueue_on_commit(campaign_generate_task, campaign.organization_id, campaign.pk)
    return campaign


# --------------------------------------------------------------------------- leases (docs/recovery.md)


def _lease_reset(campaign: Campaign, *, interruptions: int) -> None:
    """Queued, not yet taken by a task: no heartbeat, no owner (the sweep publishes such a campaign again after
    RECOVERY_PENDING_GRACE_SECONDS without counting it: it may only be waiting its turn)."""
    campaign.heartbeat_at, campaign.lease_owner, campaign.interruptions = None, "", interruptions


def _lease_take(*, organization_id: int, campaign_id: int, status: str, token: str) -> Campaign | None:
    """A task's claim on its campaign: None when it is no longer `status` (deleted, done, given up) or another run
    holds a fresh lease. Its own token still on the row means this same delivery ran before and its worker died (a
    redelivery): one interruption, past RECOVERY_MAX_ATTEMPTS the campaign fails. A free lease (queued, or freed by
    the sweep) or a stale one is taken: a run that was only slow stops at its next batch (`_lease_renew`)."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("organization")
            .filter(organization_id=organization_id, pk=campaign_id, status=status)
            .first()
        )
        if campaign is None:
            return None
        if token and campaign.lease_owner == token:
            campaign.interruptions += 1
            if attempts_exhausted(campaign.interruptions):
                _campaign_give_up(campaign)
                return None
        elif campaign.lease_owner and lease_is_fresh(campaign.heartbeat_at):
            # Another run holds it and is alive (a duplicate the sweep published for a campaign that only waited
            # behind a long queue): it goes on, this one returns; restarting would throw its work away.
            logger.info("outreach campaign %s: %s by a live run; this duplicate returns", campaign.pk, status)
            return None
        campaign.lease_owner, campaign.heartbeat_at = token, timezone.now()
        campaign.save(update_fields=["lease_owner", "heartbeat_at", "interruptions", "updated_at"])
    return campaign


def _mine(campaign: Campaign):
    """The campaign's row while this run holds its lease in the state it took it in (no row once it has not)."""
    return Campaign.objects.filter(pk=campaign.pk, status=campaign.status, lease_owner=campaign.lease_owner)


def _lease_renew(campaign: Campaign) -> bool:
    """The heartbeat after a batch, in the batch's transaction: False when the lease passed to another run (the
    sweep or a newer delivery took the campaign over) or the campaign left its state; the run then stops."""
    return _mine(campaign).update(heartbeat_at=timezone.now()) == 1


INTERRUPTED_SEND_ERROR = (
    "The send was interrupted before its outcome was recorded: the message may or may not have been delivered, "
    "and is not sent again."
)


def _campaign_give_up(campaign: Campaign) -> None:
    """Past the attempt limit. A generation ends `failed` with the readable reason (the owner can generate it again);
    a send ends as every send does, `sent`, with the messages it could not send failed with the reason (a `failed`
    campaign could be generated again over members already mailed)."""
    sending = campaign.status == Campaign.Status.SENDING
    campaign.last_error = interrupted_message(
        what="Sending the campaign" if sending else "Generating the campaign's messages",
        interruptions=campaign.interruptions,
        last_seen=campaign.heartbeat_at,
        action="the messages not sent were marked failed" if sending else "generate it again",
    )
    if sending:
        _sends_unconfirmed_fail(campaign)
        unsent = CampaignMessage.objects.filter(campaign=campaign, status=CampaignMessage.Status.READY).update(
            status=CampaignMessage.Status.FAILED, error=campaign.last_error
        )
        campaign.failed_count += unsent
        campaign.status, campaign.sent_at = Campaign.Status.SENT, timezone.now()
    else:
        campaign.status = Campaign.Status.FAILED
    campaign.lease_owner = ""
    campaign.save(update_fields=["status", "sent_at", "failed_count", "last_error", "lease_owner", "interruptions",
                                 "updated_at"])  # fmt: skip
    logger.warning("outreach campaign %s: given up: %s", campaign.pk, campaign.last_error)


def _sends_unconfirmed_fail(campaign: Campaign) -> int:
    """Messages a lost send run had claimed (`sending`) without recording what the mail server said: at most once,
    so they are failed with the reason, never sent again."""
    failed = CampaignMessage.objects.filter(campaign=campaign, status=CampaignMessage.Status.SENDING).update(
        status=CampaignMessage.Status.FAILED, error=INTERRUPTED_SEND_ERROR
    )
    if failed:
        Campaign.objects.filter(pk=campaign.pk).update(failed_count=F("failed_count") + failed)
        campaign.failed_count += failed
    return failed


def campaigns_recover_stuck(*, limit: int = 500) -> dict[str, list[int]]:
    """Beat (maintenance.work_recover_stuck): campaigns left `generating` or `sending` by a lost worker or task.

    - Taken by a task whose heartbeat is older than RECOVERY_LEASE_SECONDS: one interruption; below the limit the
      lease is freed and the task enqueued again after commit (a send first fails the messages its lost run had
      claimed without a recorded outcome: mail goes out at most once); past it, the campaign fails with the reason.
    - Never taken (no heartbeat) for longer than RECOVERY_PENDING_GRACE_SECONDS: the publish may have been lost or
      the task is still waiting behind a long queue; published again without counting (a duplicate finds the lease
      taken over and its predecessor stops, or finds the campaign done and returns).

    Rows are locked with SKIP LOCKED and a recovered one gets a fresh `updated_at`, so two sweeps never take one
    campaign twice."""
    now = timezone.now()
    expired = lease_cutoff(now)
    waiting_since = now - timedelta(seconds=settings.RECOVERY_PENDING_GRACE_SECONDS)
    running = Q(status__in=[Campaign.Status.GENERATING, Campaign.Status.SENDING])
    stuck = running & (Q(heartbeat_at__lt=expired) | Q(heartbeat_at__isnull=True, updated_at__lt=waiting_since))
    report: dict[str, list[int]] = {"requeued": [], "failed": []}
    with transaction.atomic():
        for campaign in Campaign.objects.select_for_update(skip_locked=True).filter(stuck).order_by("id")[:limit]:
            if campaign.heartbeat_at is not None:
                campaign.interruptions += 1
                if attempts_exhausted(campaign.interruptions):
                    _campaign_give_up(campaign)
                    report["failed"].append(campaign.pk)
                    continue
                if campaign.status == Campaign.Status.SENDING:
                    _sends_unconfirmed_fail(campaign)
            last_seen = campaign.heartbeat_at or campaign.updated_at
            logger.warning("outreach campaign %s: %s, last seen %s, queued again (interruption %s)",
                           campaign.pk, campaign.status, last_seen, campaign.interruptions)  # fmt: skip
            _lease_reset(campaign, interruptions=campaign.interruptions)
            campaign.save(update_fields=["heartbeat_at", "lease_owner", "interruptions", "updated_at"])
            task = campaign_generate_task if campaign.status == Campaign.Status.GENERATING else campaign_send_task
            enqueue_on_commit(task, campaign.organization_id, campaign.pk)
            report["requeued"].append(campaign.pk)
    return report


def campaign_generate(*, organization_id: int, campaign_id: int, token: str = "") -> Campaign | None:
    """Write every member's message (the task's body). Idempotent: messages are upserted on (campaign, user)
    and the counts restart, so a redelivered task redoes the work without duplicates. A campaign that is
    not `generating` (deleted, or done) is left alone; a run whose lease passed to another stops (`_lease_take`)."""
    campaign = _lease_take(
        organization_id=organization_id, campaign_id=campaign_id, status=Campaign.Status.GENERATING, token=token
    )
    if campaign is None:
        return None
    _mine(campaign).update(generated_count=0, skipped_count=0, fallback_count=0, failed_count=0)
    use_llm = _use_llm()
    index = _catalog_index(campaign.organization) if use_llm else {}
    try:
        last_id = 0
        while True:
            rows = list(
                selectors.segment_members(campaign=campaign)
                .filter(id__gt=last_id)
                .values_list("id", "user_id", "user__email")[: settings.OUTREACH_BATCH_SIZE]
            )
            if not rows:
                break
            last_id = rows[-1][0]
            emails = {user_id: email for _, user_id, email in rows}
            drafts = _drafts(campaign=campaign, user_ids=list(emails), index=index, use_llm=use_llm)
            if not _store(campaign, emails, drafts):
                logger.info("outreach campaign %s: the generation passed to another run; this one stops", campaign.pk)
                return None
    except Exception as exc:
        _mine(campaign).update(status=Campaign.Status.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    _mine(campaign).update(status=Campaign.Status.READY, generated_at=timezone.now(), lease_owner="")
    return Campaign.objects.filter(pk=campaign.pk).first()  # None: purged meanwhile with its deleted organization


def _store(campaign: Campaign, emails: dict[int, str], drafts: dict[int, Draft | None]) -> bool:
    """One batch's messages and counts, with the lease's heartbeat in the same transaction: nothing is written, and
    False returned, when the lease passed to another run (which restarted the counts)."""
    messages = [
        CampaignMessage(
            organization_id=campaign.organization_id,
            campaign=campaign,
            user_id=user_id,
            email=emails[user_id],
            subject=draft.subject,
            body_text=draft.body_text,
            body_html=draft.body_html,
            items=draft.items,
            composer=draft.composer,
            composer_note=draft.composer_note,
            status=CampaignMessage.Status.READY,
            edited=False,
        )
        for user_id, draft in drafts.items()
        if draft is not None
    ]
    with transaction.atomic():
        if not _lease_renew(campaign):
            return False
        CampaignMessage.objects.bulk_create(
            messages,
            update_conflicts=True,
            unique_fields=["campaign", "user"],
            update_fields=["email", "subject", "body_text", "body_html", "items", "composer", "composer_note",
                           "status", "edited", "updated_at"],
        )  # fmt: skip
        Campaign.objects.filter(pk=campaign.pk).update(
            generated_count=F("generated_count") + len(messages),
            skipped_count=F("skipped_count") + sum(1 for draft in drafts.values() if draft is None),
            fallback_count=F("fallback_count") + sum(1 for m in messages if m.composer_note),
        )
    return True


# --------------------------------------------------------------------------- review


def message_update(*, message: CampaignMessage, **data) -> CampaignMessage:
    """An admin's edit of a generated message before sending (subject, text, HTML)."""
    if message.status != CampaignMessage.Status.READY or message.campaign.status != Campaign.Status.READY:
        raise ApplicationError(
            "Only messages of a campaign ready for review can be edited.", code="message_locked", status_code=409
        )
    for name, value in data.items():
        setattr(message, name, value)
    message.edited = True
    message.full_clean()
    message.save()
    return message


# --------------------------------------------------------------------------- sending


@transaction.atomic
def campaign_send_start(*, campaign: Campaign) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.READY:
        raise ApplicationError(
            f"The campaign is {campaign.status}; only a campaign ready for review can be sent.",
            code="campaign_not_ready",
            status_code=409,
        )
    if not CampaignMessage.objects.filter(campaign=campaign, status=CampaignMessage.Status.READY).exists():
        raise ApplicationError("The campaign has no message to send.", code="campaign_empty")
    campaign.status = Campaign.Status.SENDING
    _lease_reset(campaign, interruptions=0)
    campaign.save(update_fields=["status", "heartbeat_at", "lease_owner", "interruptions", "updated_at"])
    enqueue_on_commit(campaign_send_task, campaign.organization_id, campaign.pk)
    return campaign


def _claim(campaign: Campaign) -> list[CampaignMessage]:
    """Mark the next batch of ready messages `sending` (committed before any mail goes out), so a message is
    handed to the mail server at most once even if the task runs twice; with the lease's heartbeat (nothing is
    claimed once the lease passed to another run)."""
    with transaction.atomic():
        if not _lease_renew(campaign):
            return []
        ids = list(
            CampaignMessage.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, status=CampaignMessage.Status.READY)
            .order_by("id")
            .values_list("id", flat=True)[: settings.OUTREACH_SEND_BATCH_SIZE]
        )
        CampaignMessage.objects.filter(pk__in=ids).update(status=CampaignMessage.Status.SENDING)
    return list(CampaignMessage.objects.filter(pk__in=ids).order_by("id"))


def _email(campaign: Campaign, message: CampaignMessage) -> EmailMultiAlternatives:
    unsubscribe = unsubscribe_url(organization_id=campaign.organization_id, user_id=message.user_id)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=formataddr((campaign.sender_name, campaign.sender_email)),
        to=[message.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058: the link takes a POST
            "X-Beacon-Campaign": str(campaign.pk),
        },
    )
    email.attach_alternative(message.body_html, "text/html")
    return email


def _outcome_record(campaign: Campaign, *, batch: list[CampaignMessage], opted_out: set[int], error: str,
                    sent_at) -> None:  # fmt: skip
    """What became of a claimed batch, and the campaign's counts from the rows actually changed. A row the recovery
    sweep marked interrupted meanwhile (this run's heartbeat had gone stale, yet it was still sending) gets its real
    outcome here, and leaves the failed count it was put in: each message is counted once."""
    claimed = Q(status=CampaignMessage.Status.SENDING) | Q(
        status=CampaignMessage.Status.FAILED, error=INTERRUPTED_SEND_ERROR
    )
    with transaction.atomic():
        locked = dict(
            CampaignMessage.objects.select_for_update()
            .filter(claimed, pk__in=[m.pk for m in batch])
            .values_list("pk", "status")
        )
        interrupted = sum(1 for state in locked.values() if state == CampaignMessage.Status.FAILED)
        mine = CampaignMessage.objects.filter(pk__in=locked)
        opted = mine.filter(pk__in=opted_out).update(status=CampaignMessage.Status.OPTED_OUT, error="")
        others = mine.exclude(pk__in=opted_out)
        if error:
            done = others.update(status=CampaignMessage.Status.FAILED, error=error)
        else:
            done = others.update(status=CampaignMessage.Status.SENT, sent_at=sent_at, error="")
        Campaign.objects.filter(pk=campaign.pk).update(
            sent_count=F("sent_count") + (0 if error else done),
            failed_count=F("failed_count") + (done if error else 0) - interrupted,
            opted_out_count=F("opted_out_count") + opted,
            last_error=error or F("last_error"),
        )


def campaign_send(*, organization_id: int, campaign_id: int, token: str = "") -> Campaign | None:
    """Send the ready messages in batches over one connection per batch; members who opted out since
    generation are skipped (`opted_out`). Not idempotent by nature (mail cannot be unsent): claimed rows
    are never claimed again, so a second run sends only what is still ready. A run whose lease passed to
    another (the recovery sweep's) claims nothing more and stops."""
    campaign = _lease_take(
        organization_id=organization_id, campaign_id=campaign_id, status=Campaign.Status.SENDING, token=token
    )
    if campaign is None:
        return None
    while batch := _claim(campaign):
        out = selectors.opted_out(organization_id=organization_id, user_ids=[m.user_id for m in batch])
        sendable = [message for message in batch if message.user_id not in out]
        now, error = timezone.now(), ""
        try:
            with get_connection() as connection:
                connection.send_messages([_email(campaign, message) for message in sendable])
        except OSError as exc:  # SMTPException too: the server refused the batch; recorded, the rest go on
            error = f"{type(exc).__name__}: {exc}"[:2000]
            logger.warning("outreach campaign %s: a batch failed: %s", campaign.pk, error)
        opted_out = {m.pk for m in batch if m.user_id in out}
        _outcome_record(campaign, batch=batch, opted_out=opted_out, error=error, sent_at=now)
    _mine(campaign).update(status=Campaign.Status.SENT, sent_at=timezone.now(), lease_owner="")
    return Campaign.objects.filter(pk=campaign.pk).first()  # None: purged meanwhile with its deleted organization


# --------------------------------------------------------------------------- opt-out, clicks, unsubscribe


def optout_set(*, organization, user_id: int, opted_out: bool, source: str) -> bool:
    """Opt the member out of (or back into) the organization's campaigns; returns the new state."""
    if opted_out:
        OutreachOptOut.objects.get_or_create(organization=organization, user_id=user_id, defaults={"source": source})
    else:
        OutreachOptOut.objects.filter(organization=organization, user_id=user_id).delete()
    return opted_out


def _token(token: str, salt: str) -> dict:
    try:
        data = signing.loads(token, salt=salt)
    except signing.BadSignature as exc:
        raise NotFound("This link is not valid.") from exc
    if not isinstance(data, dict):
        raise NotFound("This link is not valid.")
    return data


def unsubscribe_target(*, token: str) -> Membership | None:
    """The membership an unsubscribe token names (404 for a forged token; None when they left, or when the
    organization was deleted)."""
    data = _token(token, UNSUBSCRIBE_SALT)
    return (
        Membership.objects.filter(
            organization_id=data.get("o"), user_id=data.get("u"), organization__deleted_at__isnull=True
        )
        .select_related("organization")
        .first()
    )


def unsubscribe_member(*, token: str) -> Membership | None:
    """Opt out the member an unsubscribe token names; None when they are no longer a member (nothing left
    to send them)."""
    membership = unsubscribe_target(token=token)
    if membership is not None:
        optout_set(organization=membership.organization, user_id=membership.user_id, opted_out=True, source="link")
    return membership


@transaction.atomic
def click_record(*, token: str) -> str:
    """Record a click on a tracked item link and return where it goes (the item's URL). The message counts
    the click; the member gets one `view` interaction per (message, item) (idempotency key), which feeds
    progress and recommendations like any view. 404 for a forged token or an item gone from the catalog."""
    from apps.progress.services import interaction_create

    data = _token(token, CLICK_SALT)
    message = (
        CampaignMessage.objects.filter(
            campaign_id=data.get("c"), user_id=data.get("u"), organization__deleted_at__isnull=True
        )
        .select_related("organization", "user")
        .first()
    )
    if message is None:
        raise NotFound("This link is no longer valid.")
    item = ContentItem.objects.filter(organization_id=message.organization_id, pk=data.get("i")).first()
    if item is None or item.pk not in message.items:
        raise NotFound("This item is no longer available.")
    now = timezone.now()
    CampaignMessage.objects.filter(pk=message.pk).update(click_count=F("click_count") + 1)
    CampaignMessage.objects.filter(pk=message.pk, clicked_at__isnull=True).update(clicked_at=now)
    interaction_create(
        organization=message.organization, user=message.user, item=item, kind=InteractionKind.VIEW, occurred_at=now,
        idempotency_key=f"outreach-click-{message.pk}-{item.pk}",
    )  # fmt: skip
    return item.url or public_url("/") or "/"


ORGANIZATION_DELETED_ERROR = "The organization was deleted."


def organization_campaigns_stop(*, organization_id: int) -> int:
    """The organization is being deleted (`organization_deleted`, in its transaction): campaigns generating or sending
    fail at once, so their runs stop at their next batch (their lease no longer holds) and nothing more is mailed.
    Returns how many."""
    return Campaign.objects.filter(
        organization_id=organization_id, status__in=[Campaign.Status.GENERATING, Campaign.Status.SENDING]
    ).update(status=Campaign.Status.FAILED, last_error=ORGANIZATION_DELETED_ERROR, updated_at=timezone.now())


def organization_outreach_purge_batch(*, organization_id: int) -> int:
    """A batch of a deleted organization's outreach data (`organization_purging`): messages, then campaigns and
    opt-outs. Returns how many rows went (0: none left)."""
    return delete_in_order(
        [
            model.objects.filter(organization_id=organization_id)
            for model in (CampaignMessage, Campaign, OutreachOptOut)
        ],
        limit=settings.ORGANIZATION_PURGE_BATCH_ROWS,
    )
