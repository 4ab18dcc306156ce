from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from app import crud
from app.api.deps import CurrentUser, SessionDep
from app.models import TaskCreate, TaskPublic, TaskSort, TaskStatus, TaskUpdate

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])

NOT_FOUND = {404: {"description": "No such task for this user"}}


def _not_found(exc: crud.TaskNotFound) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Task {exc.task_id} not found")


@router.get("", response_model=list[TaskPublic], summary="List the user's tasks")
def list_tasks(
    session: SessionDep,
    user_id: CurrentUser,
    task_status: Annotated[TaskStatus, Query(alias="status", description="all, pending or completed")] = "all",
    sort: Annotated[TaskSort, Query(description="Field to sort by; prefix with '-' for descending")] = "created_at",
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    return crud.list_tasks(session=session, user_id=user_id, status=task_status, sort=sort, limit=limit, offset=offset)


@router.post("", response_model=TaskPublic, status_code=status.HTTP_201_CREATED, summary="Create a task")
def create_task(session: SessionDep, user_id: CurrentUser, task_in: TaskCreate):
    return crud.create_task(session=session, user_id=user_id, task_in=task_in)


@router.get("/{task_id}", response_model=TaskPublic, responses=NOT_FOUND)
def get_task(session: SessionDep, user_id: CurrentUser, task_id: int):
    try:
        return crud.get_task(session=session, user_id=user_id, task_id=task_id)
    except crud.TaskNotFound as exc:
        raise _not_found(exc) from None


@router.put("/{task_id}", response_model=TaskPublic, responses=NOT_FOUND, summary="Update a task (send the fields to change: title, description, completed)")
def update_task(session: SessionDep, user_id: CurrentUser, task_id: int, task_in: TaskUpdate):
    if not task_in.model_fields_set:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": ["body"], "msg": "Give at least one of title, description, completed", "type": "value_error"}]
        )
    for name in ("title", "completed"):
        if name in task_in.model_fields_set and getattr(task_in, name) is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": ["body", name], "msg": f"{name} cannot be null", "type": "value_error"}])
    try:
        return crud.update_task(session=session, user_id=user_id, task_id=task_id, task_in=task_in)
    except crud.TaskNotFound as exc:
        raise _not_found(exc) from None


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_task(session: SessionDep, user_id: CurrentUser, task_id: int) -> None:
    try:
        crud.delete_task(session=session, user_id=user_id, task_id=task_id)
    except crud.TaskNotFound as exc:
        raise _not_found(exc) from None


@router.patch(
    "/{task_id}/complete", response_model=TaskPublic, responses=NOT_FOUND, summary="Toggle a task's completed flag (or set it with ?completed=true|false)"
)
def complete_task(
    session: SessionDep, user_id: CurrentUser, task_id: int, completed: Annotated[bool | None, Query(description="Set explicitly instead of toggling")] = None
):
    try:
        task = crud.get_task(session=session, user_id=user_id, task_id=task_id)
        target = (not task.completed) if completed is None else completed
        return crud.set_completed(session=session, user_id=user_id, task_id=task_id, completed=target)
    except crud.TaskNotFound as exc:
        raise _not_found(exc) from None
