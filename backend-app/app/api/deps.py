"""Request dependencies: the database session and the verified, path-matching user."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.core.config import Settings
from app.core.security import AuthError, AuthUnavailable, Principal, TokenVerifier

bearer_scheme = HTTPBearer(auto_error=False, description="Better Auth JWT (the frontend's JWT plugin)")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Missing bearer token: send 'Authorization: Bearer <jwt>'", headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


BearerToken = Annotated[str, Depends(get_bearer_token)]


def get_principal(request: Request, token: BearerToken) -> Principal:
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return verifier.verify(token)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    except AuthUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_current_user(
    principal: Annotated[Principal, Depends(get_principal)],
    user_id: Annotated[str, Path(description="The signed-in user's id (the token's `sub`)", max_length=255)],
) -> str:
    if principal.user_id != user_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This token belongs to another user than the one in the path")
    return user_id


CurrentUser = Annotated[str, Depends(get_current_user)]
