"""The state commands of the `miniray` CLI (Ray's ray/util/state/state_cli.py):

    miniray list tasks|actors|objects|workers|nodes|jobs|placement-groups
                 [--filter "key=value" | "key!=value"] [--limit N] [--detail]
                 [--format table|json]
    miniray summary tasks|actors|objects
    miniray memory
    miniray logs [FILENAME] [--pid N | --actor-id ID | --task-id ID] [--err]
                 [--tail N] [--follow]
    miniray timeline [--output FILE]

Each reads the newest miniray runtime on this machine: a node daemon, or the
embedded node of a running miniray.init() (found through its session
directory); --address names a cluster.
"""
import argparse
import json
import sys
import time
from typing import Any, Dict, List

from miniray.util.state import api

RESOURCES = ("tasks", "actors", "objects", "workers", "nodes", "jobs", "placement-groups")

# The columns a table shows without --detail.
TABLE_COLUMNS = {
    "tasks": ("task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type",
              "worker_pid", "error_type"),
    "actors": ("actor_id", "class_name", "state", "job_id", "name", "node_id", "pid",
               "ray_namespace"),
    "objects": ("object_id", "object_size", "task_status", "reference_type", "type", "pid",
                "state"),
    "workers": ("worker_id", "is_alive", "worker_type", "pid", "job_id", "actor_id"),
    "nodes": ("node_id", "node_ip", "is_head_node", "state", "node_name"),
    "jobs": ("job_id", "type", "status", "entrypoint", "start_time", "end_time"),
    "placement_groups": ("placement_group_id", "name", "state", "strategy"),
}


def _parse_filter(text: str):
    for predicate in ("!=", "="):
        key, sep, value = text.partition(predicate)
        if sep:
            return key.strip(), predicate, value.strip()
    raise ValueError(f"a filter is KEY=VALUE or KEY!=VALUE, got {text!r}")


def _table(rows: List[Dict[str, Any]], columns) -> str:
    if not rows:
        return "No resources found."
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    header = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths))
    lines = [header] + ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def list_command(args) -> int:
    resource = args.resource.replace("-", "_")
    filters = [_parse_filter(f) for f in args.filter or []]
    fn = getattr(api, f"list_{resource}")
    rows = fn(address=args.address, filters=filters or None, limit=args.limit,
              detail=args.detail)
    if args.format == "json":
        _print_json([dict(r) for r in rows])
        return 0
    columns = api.COLUMNS[resource] if args.detail else TABLE_COLUMNS[resource]
    print(f"======== List: {datetime_now()} ========")
    print(f"Stats:\n------------------------------\nTotal: {len(rows)}\n")
    print(f"Table:\n------------------------------\n{_table(rows, columns)}")
    return 0


def datetime_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def summary_command(args) -> int:
    fn = getattr(api, f"summarize_{args.resource}")
    result = fn(address=args.address)["cluster"]
    if args.format == "json":
        _print_json(result)
        return 0
    print(f"======== {args.resource.capitalize()} Summary: {datetime_now()} ========")
    summary = result["summary"]
    if args.resource == "tasks":
        print(f"Total tasks: {result['total_tasks']}, actor tasks: "
              f"{result['total_actor_tasks']}, actors scheduled: {result['total_actor_scheduled']}")
        rows = [{"func_or_class_name": name, "type": s["type"],
                 "state_counts": _counts(s["state_counts"]),
                 "mean_s": f"{s['run_time_s']['mean']:.4f}",
                 "p50_s": f"{s['run_time_s']['p50']:.4f}",
                 "p99_s": f"{s['run_time_s']['p99']:.4f}"} for name, s in summary.items()]
    elif args.resource == "actors":
        print(f"Total actors: {result['total_actors']}")
        rows = [{"class_name": name, "state_counts": _counts(s["state_counts"])}
                for name, s in summary.items()]
    else:
        print(f"Total objects: {result['total_objects']}, "
              f"{result['total_size_mb']:.2f} MiB")
        rows = [{"state": name, "total_objects": s["total_objects"],
                 "total_size_mb": f"{s['total_size_mb']:.2f}"} for name, s in summary.items()]
    print(_table(rows, list(rows[0]) if rows else ["-"]))
    return 0


def _counts(counts: Dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def memory_command(args) -> int:
    rows = api.list_objects(address=args.address, limit=args.limit)
    print(f"======== Object references: {datetime_now()} ========")
    total = sum({r["object_id"]: r["object_size"] for r in rows}.values())
    objects = len({r["object_id"] for r in rows})
    print(f"{objects} objects, {total} bytes; {len(rows)} references\n")
    print(_table(sorted(rows, key=lambda r: (r["pid"] or 0, r["object_id"])),
                 ("object_id", "object_size", "state", "reference_type", "type", "pid")))
    return 0


def logs_command(args) -> int:
    if not (args.filename or args.pid or args.actor_id or args.task_id):
        for kind, names in api.list_logs(address=args.address).items():
            print(f"{kind}:")
            for n in names:
                print(f"  {n}")
        return 0
    for chunk in api.get_log(address=args.address, filename=args.filename, pid=args.pid,
                             actor_id=args.actor_id, task_id=args.task_id,
                             suffix="err" if args.err else "out", tail=args.tail,
                             follow=args.follow):
        sys.stdout.write(chunk)
        sys.stdout.flush()
    return 0


def timeline_command(args) -> int:
    path = args.output or f"/tmp/miniray-timeline-{time.strftime('%Y-%m-%d_%H-%M-%S')}.json"
    api.timeline(filename=path, address=args.address)
    with open(path) as f:
        n = len(json.load(f))
    print(f"Trace file written to {path} ({n} events). Open it in chrome://tracing or "
          "https://ui.perfetto.dev.")
    return 0


def _guarded(command):
    """Runs a state command; its errors are printed, not raised."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (ConnectionError, ValueError, TypeError) as e:
            print(f"miniray: error: {e}", file=sys.stderr)
            return 1
    return run


def add_commands(sub) -> None:
    """Adds list, summary, memory, logs and timeline to the CLI's subparsers."""
    def common(p):
        p.add_argument("--address", help="a cluster's HOST:PORT (default: the runtime here)")
        return p

    p = common(sub.add_parser("list", help="list tasks, actors, objects, workers, nodes, jobs "
                                           "or placement groups"))
    p.add_argument("resource", choices=RESOURCES)
    p.add_argument("--filter", action="append",
                   help='"key=value" or "key!=value" (repeatable; case-insensitive)')
    p.add_argument("--limit", type=int, default=api.DEFAULT_LIMIT)
    p.add_argument("--detail", action="store_true", help="every column")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=_guarded(list_command))
    p = common(sub.add_parser("summary", help="tasks by function, actors by class, objects"))
    p.add_argument("resource", choices=("tasks", "actors", "objects"))
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=_guarded(summary_command))
    p = common(sub.add_parser("memory", help="which processes hold which objects, and sizes"))
    p.add_argument("--limit", type=int, default=10000)
    p.set_defaults(run=_guarded(memory_command))
    p = common(sub.add_parser("logs", help="list log files, or print one"))
    p.add_argument("filename", nargs="?")
    p.add_argument("--pid", type=int)
    p.add_argument("--actor-id")
    p.add_argument("--task-id")
    p.add_argument("--err", action="store_true", help="the worker's stderr file")
    p.add_argument("--tail", type=int, default=1000, help="last lines (-1: all)")
    p.add_argument("--follow", action="store_true")
    p.set_defaults(run=_guarded(logs_command))
    p = common(sub.add_parser("timeline", help="write a Chrome trace of the tasks that ran"))
    p.add_argument("--output", help="the file (default /tmp/miniray-timeline-<time>.json)")
    p.set_defaults(run=_guarded(timeline_command))
