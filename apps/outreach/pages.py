"""The public links of outreach e-mails, outside /api/v1 (no account needed; the signed token is the
authority, docs/outreach.md "Links"):

- `outreach/c/<token>/`: a tracked item link; records the click and a `view` interaction, then redirects
  to the item;
- `outreach/unsubscribe/<token>/`: GET shows a confirmation button (mail scanners that prefetch links must
  not unsubscribe anyone), POST opts the member out. The POST is also RFC 8058's one-click unsubscribe
  (`List-Unsubscribe-Post`), sent by mail clients without a CSRF token, hence csrf_exempt.
"""

from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import NotFound

from apps.outreach import services


def click(request, token: str):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    try:
        target = services.click_record(token=token)
    except NotFound as exc:
        raise Http404(str(exc.detail)) from exc
    return HttpResponseRedirect(target)


@csrf_exempt
def unsubscribe(request, token: str):
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    try:
        if request.method == "POST":
            membership = services.unsubscribe_member(token=token)
            done = True
        else:
            membership = services.unsubscribe_target(token=token)
            done = False
    except NotFound as exc:
        raise Http404(str(exc.detail)) from exc
    organization = membership.organization.name if membership else ""
    return render(request, "outreach/unsubscribe.html", {"organization": organization, "done": done})
