"""JWT auth (§8.2): operator and device tokens, verified on every endpoint but health and docs.

Tokens are HS256 (by default) JWTs carrying `role` ("operator" or "device"),
`sub` (the operator's name or the device id) and `jti` (checked against the
store's revocations, so a deregistered device or rotated token stops working
on every instance at once).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from server.errors import Forbidden, Unauthorized
from server.request_ids import mark_received
from server.state.base import Store

Role = Literal["operator", "device"]
_CACHE_LIMIT = 4096


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: an operator, or one device."""

    role: Role
    subject: str
    jti: str
    expires_at: float

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

    def issue(self, *, role: Role, subject: str, ttl_s: int) -> IssuedToken:
        now = int(time.time())
        jti = f"tok_{secrets.token_hex(12)}"
        claims = {
            "iss": self._issuer,
            "sub": subject,
            "role": role,
            "jti": jti,
            "iat": now,
            "exp": now + ttl_s,
        }
        token = jwt.encode(claims, self._secret, algorithm=self._algorithm)
        return IssuedToken(token=token, jti=jti, expires_at=datetime.fromtimestamp(now + ttl_s, UTC))

    async def verify(self, token: str) -> Principal:
        """The token's principal, or `Unauthorized` saying why it is refused."""
        principal = self._verified.get(token)
        if principal is None:
            principal = self._decode(token)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = principal
        if principal.expires_at <= time.time():
            self._verified.pop(token, None)
            raise Unauthorized("Token has expired", reason="expired")
        if self._store is not None and await self._store.is_revoked(principal.jti):
            raise Unauthorized("Token has been revoked", reason="revoked")
        return principal

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
        return Principal(role=role, subject=subject, jti=str(claims["jti"]), expires_at=float(claims["exp"]))


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
        principal = await services.tokens.verify(bearer_token(connection.headers.get("authorization")))
        await services.limiter.check_request(principal)
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
