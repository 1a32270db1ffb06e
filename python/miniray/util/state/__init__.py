"""The state API, as Ray's ray.util.state: list, get and summarize what a
running miniray holds (tasks, actors, objects, workers, nodes, jobs,
placement groups), and read its logs. See api.py."""
from miniray.util.state.api import (
    ActorState,
    JobState,
    NodeState,
    ObjectState,
    PlacementGroupState,
    StateSchema,
    TaskState,
    WorkerState,
    get_actor,
    get_log,
    get_task,
    get_worker,
    list_actors,
    list_jobs,
    list_logs,
    list_nodes,
    list_objects,
    list_placement_groups,
    list_tasks,
    list_workers,
    summarize_actors,
    summarize_objects,
    summarize_tasks,
)

__all__ = [
    "ActorState", "JobState", "NodeState", "ObjectState", "PlacementGroupState", "StateSchema",
    "TaskState", "WorkerState", "get_actor", "get_log", "get_task", "get_worker",
    "list_actors", "list_jobs", "list_logs", "list_nodes", "list_objects",
    "list_placement_groups", "list_tasks", "list_workers", "summarize_actors",
    "summarize_objects", "summarize_tasks",
]
