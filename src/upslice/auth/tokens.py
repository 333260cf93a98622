"""`--auth jwt`: a bearer token verified with PyJWT; its `sub` claim names the owner.

HS256 with `--jwt-secret`, or RS256/ES256 keys from `--jwks-url` (fetched when a token names
an unknown key id, then cached), with optional audience and issuer checks.
"""

from __future__ import annotations

import anyio.to_thread
import jwt
from starlette.requests import Request

from upslice.errors import Unauthorized, Unavailable
from upslice.settings import Settings

JWKS_ALGORITHMS = ["RS256", "ES256"]
JWKS_CACHE_SECONDS = 300


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("this server needs a token: send Authorization: Bearer <token>")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


class TokenVerifier:
    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        if (secret is None) == (jwks_url is None):
            raise ValueError("give exactly one of a JWT secret and a JWKS URL")
        self.secret = secret
        self.jwks = (
            jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=10)
            if jwks_url
            else None
        )
        self.audience = audience
        self.issuer = issuer

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        return cls(
            secret=settings.jwt_secret,
            jwks_url=settings.jwks_url,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )

    async def owner(self, request: Request) -> str:
        """The verified token's subject; 401 for a missing, malformed, forged or old token."""
        token = bearer_token(request)
        try:
            if self.jwks is not None:
                signing = await anyio.to_thread.run_sync(self.jwks.get_signing_key_from_jwt, token)
                key, algorithms = signing.key, JWKS_ALGORITHMS
            else:
                key, algorithms = self.secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWKClientConnectionError:
            raise Unavailable("the token's signing keys cannot be fetched now; try again") from None
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise Unauthorized(f"the token is not valid: {exc}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("the token's sub claim must be a non-empty string")
        return subject
