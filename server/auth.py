"""JWT auth (§8.2): operator and device tokens, verified on every endpoint but health and docs.

Tokens are HS256 (by default) JWTs carrying `role` ("operator" or "device"),
`sub` (the operator's name or the device id) and `jti`; an operator token may carry `scope`
(space-separated, as in OAuth): `transcripts:read` lets it see residents' words on the
operator event stream and in alerts (server/events, server/alerts).

A device token fails closed: it is valid only while its device is in the store with
that token's `jti` as its current one (`DeviceRecord.token_jti`), checked on every
request and socket connect. A rotation replaces the `jti`, a deregistration removes
the device, so the old token stops on every instance at once; and a store that lost
its data (an in-memory store after a restart, a Redis without persistence) has no
device to match, so it can never revive a token revoked before the loss.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from server.errors import Forbidden, Unauthorized
from server.request_ids import mark_received
from server.state.base import Store
from server.state.records import RateCount, RateWindow

Role = Literal["operator", "device"]
_CACHE_LIMIT = 4096


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: an operator, or one device."""

    role: Role
    subject: str
    jti: str
    expires_at: float
    scopes: frozenset[str] = frozenset()
    """What the token's `scope` claim grants beyond its role (e.g. `transcripts:read`)."""

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    jti: str
    expires_at: datetime


class TokenService:
    """Issues and verifies tokens with one secret; verification also checks revocation."""

    def __init__(self, *, secret: str, algorithm: str, issuer: str, store: Store | None = None) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer
        self._store = store
        # Verified claims by token: skips re-verifying the signature of a token seen before.
        # Expiry and revocation are still checked on every use.
        self._verified: dict[str, Principal] = {}

    def issue(self, *, role: Role, subject: str, ttl_s: int, scopes: Sequence[str] = ()) -> IssuedToken:
        now = int(time.time())
        jti = f"tok_{secrets.token_hex(12)}"
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": subject,
            "role": role,
            "jti": jti,
            "iat": now,
            "exp": now + ttl_s,
        }
        if scopes:
            claims["scope"] = " ".join(scopes)
        token = jwt.encode(claims, self._secret, algorithm=self._algorithm)
        return IssuedToken(token=token, jti=jti, expires_at=datetime.fromtimestamp(now + ttl_s, UTC))

    async def verify(self, token: str) -> Principal:
        """The token's principal, or `Unauthorized` saying why it is refused."""
        principal = self.verify_claims(token)
        await self.check_standing(principal)
        return principal

    def verify_claims(self, token: str) -> Principal:
        """The principal of a well-formed, signed, unexpired token; its standing is not checked yet."""
        principal = self._verified.get(token)
        if principal is None:
            principal = self._decode(token)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = principal
        if principal.expires_at <= time.time():
            self._verified.pop(token, None)
            raise Unauthorized("Token has expired", reason="expired")
        return principal

    async def check_standing(
        self, principal: Principal, *, count: RateCount | None = None
    ) -> RateWindow | None:
        """`Unauthorized` unless the token still stands: a device token only while its device is
        registered with this token's `jti` (`reason`: `revoked`, or `unknown_device` for a device the
        store does not know and never revoked); an operator token unless its `jti` was revoked.
        With `count`, a token that stands also counts one hit of it, in the same store call: the
        window after it is returned (a refused token counts nothing)."""
        if self._store is None:
            return None
        device_id = None if principal.is_operator else principal.subject
        check = await self._store.check_token(principal.jti, device_id=device_id, count=count)
        if check.standing == "revoked":
            raise Unauthorized("Token has been revoked", reason="revoked")
        if check.standing == "unknown_device":
            raise Unauthorized("The token's device is not registered", reason="unknown_device")
        return check.window

    def _decode(self, token: str) -> Principal:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token has expired", reason="expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("Token signature is invalid", reason="bad_signature") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthorized("Token algorithm is not accepted", reason="bad_algorithm") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("Token is malformed", reason="malformed") from None
        role = claims.get("role")
        subject = claims.get("sub")
        if role not in ("operator", "device") or not isinstance(subject, str) or not subject:
            raise Unauthorized("Token has no valid role", reason="malformed")
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        return Principal(
            role=role, subject=subject, jti=str(claims["jti"]), expires_at=float(claims["exp"]), scopes=scopes
        )


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or `Unauthorized`."""
    if not authorization:
        raise Unauthorized("Missing Authorization header (expected 'Bearer <token>')", reason="missing")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'", reason="malformed")
    return token.strip()


class JWTAuthMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates HTTP requests; the device WebSocket authenticates itself (query or first message)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        mark_received(connection.scope)
        services = connection.app.state["services"]
        principal = services.tokens.verify_claims(bearer_token(connection.headers.get("authorization")))
        # The token's standing and the request's rate-limit hit: one store call (one Redis round trip).
        limiter = services.limiter
        window = await services.tokens.check_standing(principal, count=limiter.request_count(principal))
        limiter.judge_request(principal, window)
        return AuthenticationResult(user=principal, auth=None)


def require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("This endpoint needs an operator token", details={"role": principal.role})


def require_device_access(principal: Principal, device_id: str) -> None:
    """Operators reach every device; a device token reaches only its own device."""
    if not principal.is_operator and principal.subject != device_id:
        raise Forbidden(
            "A device token is valid only for its own device",
            details={"token_device_id": principal.subject, "requested_device_id": device_id},
        )
