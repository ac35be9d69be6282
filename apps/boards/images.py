"""Item images for a board: fetched through apps.core.fetch (no private addresses, bounded time and
size), decoded and re-encoded by Pillow into a small JPEG thumbnail, embedded as a data URI.

The board therefore never links to a third-party host (its viewers' browsers fetch nothing, resvg
reads nothing from outside), and whatever the remote host sent is never passed on as is: only pixels
Pillow decoded within `Image.MAX_IMAGE_PIXELS`. Any failure (refused address, timeout, too large, not
an image, undecodable) gives None and the card shows a placeholder instead.
"""

from __future__ import annotations

import base64
import io
import logging
import warnings

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from apps.core.fetch import FetchError, fetch

logger = logging.getLogger(__name__)

CONTENT_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
THUMBNAIL = 160  # px, the longer side; cards show it at 56 px (HiDPI screens and the 2x PNG stay sharp)


def image_thumbnail(data: bytes) -> bytes | None:
    """A JPEG thumbnail of `data`, or None when Pillow cannot decode it (or it is a decompression bomb)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (THUMBNAIL, THUMBNAIL))
                image = image.convert("RGB")
                image.thumbnail((THUMBNAIL, THUMBNAIL))
                out = io.BytesIO()
                image.save(out, format="JPEG", quality=80)
                return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None


def image_data_uri(url: str) -> str | None:
    """The image at `url` as a `data:image/jpeg;base64,...` thumbnail, or None (module docstring)."""
    try:
        response = fetch(url, content_types=CONTENT_TYPES, max_bytes=settings.BOARDS_IMAGE_MAX_BYTES)
    except FetchError as exc:
        logger.info("vision board image %s not used: %s", url[:200], exc.message)
        return None
    if response.status != 200:
        logger.info("vision board image %s not used: HTTP %s", url[:200], response.status)
        return None
    thumbnail = image_thumbnail(response.body)
    if thumbnail is None:
        logger.info("vision board image %s not used: not a decodable image", url[:200])
        return None
    return "data:image/jpeg;base64," + base64.b64encode(thumbnail).decode()
