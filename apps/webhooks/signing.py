"""Signatures of deliveries (docs/webhooks.md): `Beacon-Signature: t=<unix seconds>,v1=<hex>` where
v1 = HMAC-SHA256(secret, f"{t}.{body}"), the scheme Stripe uses. The timestamp is signed with the
body, so a receiver that refuses old timestamps refuses replays of captured requests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Beacon-Signature"
SECRET_PREFIX = "whsec_"


def webhook_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
