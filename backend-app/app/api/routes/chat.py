"""POST /api/{user_id}/chat, the conversation history, and the admin's decisions on proposed ops writes.

Stateless per request: the history comes from the database, the user's message is stored before
the agent runs and the reply after, so any replica (or a restarted one) can continue a conversation.

An ops write the model asks for is stored as a pending action (app.models.OpsAction) instead of run. Its owner
approves or denies it with POST /api/{user_id}/actions/{id}/approve|deny: approving runs exactly the stored call,
once; either way the decision and the real result go to the model as the next turn of the conversation.
"""

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request, status
from starlette.concurrency import run_in_threadpool

from app import crud
from app.agent import AgentError, AgentReply, ToolSource, ToolUnavailable, execute_approved, http_tool_source, in_process_tool_source, run_agent
from app.agent.ops import audit_action, is_admin, ops_tool_source, redacted
from app.api.deps import BearerToken, CurrentUser, PrincipalDep, SessionDep
from app.core.db import session_scope
from app.core.security import Principal
from app.models import (
    ChatRequest,
    ChatResponse,
    ConversationDetail,
    ConversationPublic,
    DecisionResponse,
    MessagePublic,
    OpsAction,
    OpsActionPublic,
)

router = APIRouter(prefix="/api/{user_id}", tags=["chat"])
log = logging.getLogger(__name__)


def tool_sources(request: Request, *, principal: Principal, token: str) -> list[ToolSource]:
    """The MCP servers the agent may use for this user: the task tools, and for admins the ops tools.

    The ops tools need the model (the offline mode does not understand ops requests), so they are only
    opened when ANTHROPIC_API_KEY is set.
    """
    settings = request.app.state.settings
    user_id = principal.user_id
    if settings.task_mcp_url:
        sources = [http_tool_source("task", settings.task_mcp_url, bearer_token=token)]
    else:
        sources = [in_process_tool_source("task", request.app.state.task_mcp, user_id=user_id)]
    if settings.ops_mcp_url and settings.anthropic_api_key and is_admin(principal, settings):
        sources.append(ops_tool_source(settings, user_id=user_id, user_token=token))
    return sources


def _start_turn(engine, *, user_id: str, conversation_id: int | None, message: str, history_limit: int):
    with session_scope(engine) as session:
        conversation = crud.get_or_create_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
        history = crud.list_messages(session=session, user_id=user_id, conversation_id=conversation.id, last=history_limit) if history_limit else []
        crud.add_message(session=session, user_id=user_id, conversation_id=conversation.id, role="user", content=message)
    turns = [(m.role, m.content) for m in history if m.role in ("user", "assistant")]
    while turns and turns[0][0] != "user":  # the Messages API starts with a user turn
        turns.pop(0)
    return conversation.id, turns


def _finish_turn(engine, *, settings, user_id: str, conversation_id: int, reply: AgentReply) -> tuple[list[dict], list[OpsActionPublic]]:
    """Store the reply and the writes it proposed (pending, arguments shown redacted); audit each proposal. Returns the
    tool calls as stored (a proposal's with its action's id) and the actions."""
    with session_scope(engine) as session:
        message, actions = crud.add_reply(
            session=session,
            user_id=user_id,
            conversation_id=conversation_id,
            text=reply.text,
            tool_calls=_shown(reply),
            proposals=reply.proposals,
            ttl_seconds=settings.ops_chat_approval_ttl_seconds,
        )
    for action in actions:
        audit_action("ops_action_proposed", user_id=user_id, action_id=action.id, conversation_id=conversation_id, tool=action.tool, arguments=action.arguments)
    return message.tool_calls or [], [action_public(action) for action in actions]


def action_public(action: OpsAction) -> OpsActionPublic:
    return OpsActionPublic.model_validate(
        {**action.model_dump(), "arguments": redacted(action.arguments), "status": crud.action_status(action)},
    )


@router.post(
    "/chat",
    response_model=ChatResponse,
    summary="Talk to the todo assistant",
    responses={404: {"description": "Unknown conversation"}, 502: {"description": "AI model or tools failed"}},
)
async def chat(request: Request, user_id: CurrentUser, principal: PrincipalDep, token: BearerToken, body: ChatRequest) -> ChatResponse:
    settings = request.app.state.settings
    engine = request.app.state.engine
    try:
        conversation_id, history = await run_in_threadpool(
            _start_turn, engine, user_id=user_id, conversation_id=body.conversation_id, message=body.message, history_limit=settings.agent_history_messages
        )
    except crud.ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Conversation {exc.conversation_id} not found") from None

    try:
        reply = await run_agent(settings=settings, sources=tool_sources(request, principal=principal, token=token), history=history, message=body.message)
    except AgentError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from None

    calls, actions = await run_in_threadpool(_finish_turn, engine, settings=settings, user_id=user_id, conversation_id=conversation_id, reply=reply)
    log.info("chat turn", extra={"conversation_id": conversation_id, "tools": [call["tool"] for call in reply.tool_calls]})
    return ChatResponse(conversation_id=conversation_id, response=reply.text, tool_calls=calls, actions=actions)


def _shown(reply: AgentReply) -> list[dict]:
    """The tool calls as stored and returned: a proposal's arguments redacted (the exact ones stay in its action)."""
    return [{**call, "arguments": redacted(call["arguments"])} if "proposal" in call else call for call in reply.tool_calls]


@router.get("/conversations", response_model=list[ConversationPublic], summary="The user's conversations, newest first")
def list_conversations(session: SessionDep, user_id: CurrentUser):
    return crud.list_conversations(session=session, user_id=user_id)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail, responses={404: {"description": "Unknown conversation"}})
def get_conversation(session: SessionDep, user_id: CurrentUser, conversation_id: int):
    try:
        conversation = crud.get_conversation(session=session, user_id=user_id, conversation_id=conversation_id)
    except crud.ConversationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Conversation {exc.conversation_id} not found") from None
    messages = crud.list_messages(session=session, user_id=user_id, conversation_id=conversation_id)
    actions = crud.list_actions(session=session, user_id=user_id, conversation_id=conversation_id)
    return ConversationDetail(
        id=conversation.id,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        messages=[MessagePublic.model_validate(m, from_attributes=True) for m in messages],
        actions=[action_public(a) for a in actions],
    )


# --- Decisions on proposed ops writes ----------------------------------------------------------------------


def _claim(engine, *, user_id: str, action_id: int, decision: str) -> OpsAction:
    with session_scope(engine) as session:
        return crud.claim_action(session=session, user_id=user_id, action_id=action_id, decision=decision)


def _release(engine, action: OpsAction) -> None:
    with session_scope(engine) as session:
        crud.release_action(session=session, action=action)


def _finish(engine, action: OpsAction, **fields) -> OpsAction:
    with session_scope(engine) as session:
        return crud.finish_action(session=session, action=action, **fields)


@router.post(
    "/actions/{action_id}/{decision}",
    response_model=DecisionResponse,
    summary="Approve or deny an ops write the assistant proposed",
    description=(
        "Only the administrator it was proposed to decides, once, before it expires. `approve` runs exactly the proposed "
        "call; `deny` runs nothing. Either way the assistant is told, and its answer comes back with the action."
    ),
    responses={
        403: {"description": "Not an administrator, or ops writes are switched off"},
        404: {"description": "Unknown action (or another user's)"},
        409: {"description": "Already decided, or chat ops are off"},
        410: {"description": "Expired: nothing ran"},
        502: {"description": "The AI model failed after the decision was recorded"},
        503: {"description": "The ops server is unreachable: nothing ran, the action is still pending"},
    },
)
async def decide(
    request: Request,
    user_id: CurrentUser,
    principal: PrincipalDep,
    token: BearerToken,
    action_id: int,
    decision: Annotated[Literal["approve", "deny"], Path(description="approve or deny")],
) -> DecisionResponse:
    settings = request.app.state.settings
    engine = request.app.state.engine
    if not is_admin(principal, settings):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only an administrator can decide on ops actions.")
    if not (settings.ops_mcp_url and settings.anthropic_api_key):
        raise HTTPException(status.HTTP_409_CONFLICT, "Chat ops are switched off on this backend (OPS_MCP_URL, ANTHROPIC_API_KEY): nothing was run.")
    if decision == "approve" and not settings.ops_chat_allow_writes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Ops writes from the chat are switched off (OPS_CHAT_ALLOW_WRITES): nothing was run. Deny the action instead."
        )
    try:
        action = await run_in_threadpool(_claim, engine, user_id=user_id, action_id=action_id, decision="approved" if decision == "approve" else "denied")
    except crud.ActionNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Action {action_id} not found") from None
    except crud.ActionNotPending as exc:
        if exc.status == "expired":
            raise HTTPException(
                status.HTTP_410_GONE, f"Action {action_id} expired unrun. Ask the assistant to propose it again if it is still needed."
            ) from None
        raise HTTPException(status.HTTP_409_CONFLICT, f"Action {action_id} was already {exc.status}: an action is decided, and run, at most once.") from None

    audit = {"user_id": user_id, "action_id": action.id, "conversation_id": action.conversation_id, "tool": action.tool, "arguments": action.arguments}
    if decision == "approve":
        try:
            outcome = await execute_approved(
                sources=[ops_tool_source(settings, user_id=user_id, user_token=token)], tool=action.tool, arguments=action.arguments
            )
        except ToolUnavailable as exc:
            await run_in_threadpool(_release, engine, action)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        action = await run_in_threadpool(_finish, engine, action, ok=outcome.ok, result=outcome.result, result_text=outcome.text or outcome.as_text())
        audit_action("ops_action_decision", **audit, decision="approved", outcome="ok" if outcome.ok else "error")
        shown = f"Approved action #{action.id}: {action.tool}."
        told = (
            f"The administrator approved action #{action.id} ({action.tool}); it ran once, exactly as proposed. "
            f"Its {'result' if outcome.ok else 'error'}:\n{outcome.for_model()}\nTell the administrator the outcome."
        )
    else:
        action = await run_in_threadpool(_finish, engine, action, ok=None, result=None, result_text="Denied: nothing was run.")
        audit_action("ops_action_decision", **audit, decision="denied", outcome="not_run")
        shown = f"Denied action #{action.id}: {action.tool}."
        told = (
            f"The administrator denied action #{action.id} ({action.tool}): it was not run and nothing changed. "
            "Do not propose it again unless the administrator asks for it."
        )

    conversation_id, history = await run_in_threadpool(
        _start_turn, engine, user_id=user_id, conversation_id=action.conversation_id, message=shown, history_limit=settings.agent_history_messages
    )
    try:
        reply = await run_agent(settings=settings, sources=tool_sources(request, principal=principal, token=token), history=history, message=told)
    except AgentError as exc:
        detail = f"Action {action.id} was {action.status} and its outcome is stored in the conversation, but the assistant could not answer: {exc}"
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail) from None
    calls, actions = await run_in_threadpool(_finish_turn, engine, settings=settings, user_id=user_id, conversation_id=conversation_id, reply=reply)
    log.info("ops action decided", extra={"conversation_id": conversation_id, "action_id": action.id, "decision": action.status})
    return DecisionResponse(conversation_id=conversation_id, response=reply.text, tool_calls=calls, actions=actions, action=action_public(action))
