"""The public pages of shared boards: /boards/shared/{token}/ (HTML) and /boards/shared/{token}/image.png.

No account needed: the signed token is the permission (services.share_token_read). A forged token, a
revoked share or a board replaced by a newer version is 404; an expired token is 410. Shared views
never show personality text. The answers are not cached by shared caches, not indexed, and send no
referrer (the token is in the URL).
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.boards.render import html_render
from apps.boards.selectors import board_shared_get
from apps.boards.services import ShareLinkExpired, share_token_read

CSP = "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _board(token: str):
    try:
        parts = share_token_read(token)
    except ShareLinkExpired:
        return None
    board = board_shared_get(board_id=parts[0], share_key=parts[1]) if parts else None
    if board is None:
        raise Http404("This board link is not valid.")
    return board


def _headers(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CSP
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_GET
def shared_page(request, token: str):
    board = _board(token)
    if board is None:
        return _headers(HttpResponse("This board link has expired.", status=410, content_type="text/plain"))
    return _headers(HttpResponse(html_render(board.layout, personal=False, png_url="image.png")))


@never_cache
@require_GET
def shared_png(request, token: str):
    board = _board(token)
    if board is None:
        return _headers(HttpResponse("This board link has expired.", status=410, content_type="text/plain"))
    with board.png.open("rb") as file:
        return _headers(HttpResponse(file.read(), content_type="image/png"))
