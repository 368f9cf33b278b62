"""Who is calling: JWT verification (HS256 secret or an OIDC provider's JWKS) and dev tokens."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from hub.config import AuthConfig


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: str
    hospitals: frozenset[str]
    patients: frozenset[str]
    expires_at: float | None
    # Claims other than those above (and iat/nbf), for policy plugins. Only these are kept: a
    # principal lives as long as its connection, and the rest would be held twice.
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class AuthError(Exception):
    """Authentication failed; ``reason`` is safe to show the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_or_create_secret(config: AuthConfig) -> str:
    """The HS256 secret: from config/env, else a development secret kept under var/."""
    if config.secret:
        return config.secret
    path: Path = config.secret_file
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    print(
        f"WARNING: generated a DEVELOPMENT signing secret in {path}. It is for development only:"
        " set HUB_AUTH__SECRET (or auth.jwks_url) in production.",
        file=sys.stderr,
        flush=True,
    )
    return value


def _as_set(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(v for v in value.replace(",", " ").split() if v)
    if isinstance(value, list | tuple):
        return frozenset(str(v) for v in value)
    raise AuthError("malformed claims")


class TokenVerifier:
    def __init__(self, config: AuthConfig, secret: str | None) -> None:
        self._config = config
        self._secret = secret
        self._jwks: jwt.PyJWKClient | None = None
        if config.jwks_url:
            self._jwks = jwt.PyJWKClient(
                config.jwks_url, cache_keys=True, lifespan=int(config.jwks_cache_s), timeout=5
            )

    def verify(self, token: object) -> Principal:
        """Verify synchronously (HS256, or JWKS keys already cached)."""
        if not token:
            raise AuthError("missing token")
        if not isinstance(token, str):
            raise AuthError("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthError("malformed token") from exc
        alg = header.get("alg")
        if alg not in self._config.algorithms:
            raise AuthError(f"algorithm {alg!r} not accepted")
        if alg == "HS256":
            if not self._secret:
                raise AuthError("HS256 tokens are not accepted")
            key: Any = self._secret
        else:
            if self._jwks is None:
                raise AuthError(f"{alg} tokens need auth.jwks_url")
            try:
                key = self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise AuthError(f"signing key not found: {exc}") from exc
        return self._decode(token, key, alg)

    async def verify_async(self, token: object) -> Principal:
        if self._jwks is None:
            return self.verify(token)
        # Fetching the JWKS is blocking I/O; keep it off the event loop.
        return await asyncio.to_thread(self.verify, token)

    def _decode(self, token: str, key: Any, alg: str) -> Principal:
        cfg = self._config
        options: Any = {"require": ["exp", "sub"]}
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options=options,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("invalid signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks required claim {exc.claim!r}") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("wrong audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("wrong issuer") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("token not yet valid") from exc
        except jwt.DecodeError as exc:
            raise AuthError("malformed token") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        role = claims.get(cfg.roles_claim)
        if not isinstance(role, str) or not role:
            raise AuthError(f"token lacks a {cfg.roles_claim!r} claim")
        typed = {
            "sub",
            "exp",
            "iat",
            "nbf",
            cfg.roles_claim,
            cfg.hospitals_claim,
            cfg.patients_claim,
        }
        return Principal(
            subject=str(claims["sub"]),
            role=role,
            hospitals=_as_set(claims.get(cfg.hospitals_claim)),
            patients=_as_set(claims.get(cfg.patients_claim)),
            expires_at=float(claims["exp"]),
            claims={k: v for k, v in claims.items() if k not in typed},
        )


def parse_ttl(text: str) -> float:
    """'8h', '30m', '45s', '2d' or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError as exc:
        raise ValueError(f"invalid TTL {text!r}; use e.g. 8h, 30m, 3600") from exc


def mint_token(
    secret: str,
    *,
    sub: str,
    role: str,
    hospitals: list[str] | None = None,
    patients: list[str] | None = None,
    ttl_s: float = 8 * 3600,
    config: AuthConfig | None = None,
) -> str:
    cfg = config or AuthConfig()
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        cfg.roles_claim: role,
        cfg.hospitals_claim: list(hospitals or []),
        "iat": now,
        "exp": now + int(ttl_s),
    }
    if patients:
        claims[cfg.patients_claim] = list(patients)
    if cfg.audience:
        claims["aud"] = cfg.audience
    if cfg.issuer:
        claims["iss"] = cfg.issuer
    return jwt.encode(claims, secret, algorithm="HS256")
