#!/usr/bin/python
# Ansible wants the imports below DOCUMENTATION, EXAMPLES and RETURN.
# ruff: noqa: E402

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_rollout_info
short_description: Read a swarm service's rollout, and wait until it settles
version_added: 1.0.0
description:
  - Reads a Docker Swarm service, its tasks and the swarm's nodes through the Docker Engine API on a
    manager's unix socket, and tells whether the wanted number of tasks runs the expected image on
    nodes that are Ready and the rolling update is over (RV(done)), or the swarm stopped or rolled
    back the update (RV(rollout_failed)).
  - With O(wait=true) it polls until the rollout is done or failed, or until O(timeout), and prints
    nothing while it waits. It fails when the update failed or the time ran out, with a report of
    the service and its newest tasks.
  - A task counts only when it runs on a live node - a node whose state is C(ready) and, for a
    manager, whose C(ManagerStatus.Reachability) is C(reachable) - since the engine keeps reporting
    the last state of a task whose node went down.
  - A node that dies stays C(ready) until the swarm misses its heartbeats (3 heartbeat periods,
    15 seconds with Docker's defaults), while a dead manager turns C(unreachable) within seconds.
    So with O(wait=true) a task on a worker that O(confirmed_nodes) does not list counts only
    once the module has watched for O(settle) seconds - long enough for the swarm to mark a node
    that was dead when the module started as down.
  - Nothing in the swarm changes. Needs neither the Docker SDK for Python nor C(requests).
author:
  - accountservice maintainers (!UNKNOWN)
options:
  image:
    description:
      - The image reference the tasks must run.
      - A task counts when its image equals O(image), or starts with O(image) followed by C(@)
        (the engine may add the digest).
      - Defaults to the image of the service's spec (C(TaskTemplate.ContainerSpec.Image)).
    type: str
  updated:
    description:
      - Whether the service's spec changed in this run (the result of the task that deployed it is
        C(changed)).
      - Then an update state of C(rollback_completed), C(rollback_paused) or C(paused) means this
        run's update failed (RV(rollout_failed)). Otherwise such a state is left from an
        earlier update.
    type: bool
    default: false
  wait:
    description:
      - Poll until the rollout is done or failed, or O(timeout) passed.
      - In check mode the module reads once and does not wait.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait with O(wait=true).
      - V(0) derives it from the service's spec. The rolling update takes RV(wanted) divided by
        C(UpdateConfig.Parallelism) rounds, rounded up (one round when the parallelism is 0).
      - Each round takes C(HealthCheck.StartPeriod), plus C(HealthCheck.Interval) times
        C(HealthCheck.Retries) + 1, plus C(UpdateConfig.Monitor) and C(UpdateConfig.Delay). A
        service without a health check counts 30 seconds for the health check, a missing monitor
        period Docker's default of 5 seconds.
      - 30 seconds are added to all rounds. RV(timeout) returns the value used.
    type: int
    default: 0
  poll_interval:
    description:
      - Seconds between two reads with O(wait=true).
    type: float
    default: 1.0
  confirmed_nodes:
    description:
      - Nodes known to be up (IDs or host names), for example the hosts that answered at the start
        of this run. With O(wait=true) their tasks count at once; see O(settle) for the others.
    type: list
    elements: str
    default: []
  settle:
    description:
      - With O(wait=true), the seconds from the module's start before a task counts that runs on a
        worker outside O(confirmed_nodes) (a reachable manager is known to be up).
      - V(-1) derives it from the swarm's dispatcher heartbeat period (C(GET /swarm)) - three
        periods, the time the swarm waits before it marks a silent node down, plus 2 seconds;
        17 seconds with Docker's default of 5 seconds. V(0) trusts every C(ready) node at once.
      - Never longer than the timeout. RV(settle) returns the value used.
    type: int
    default: -1
extends_documentation_fragment:
  - accountservice.swarm.swarm_service
  - accountservice.swarm.attributes
  - accountservice.swarm.attributes.info_module
notes:
  - Each read is C(GET /services/NAME), C(GET /tasks) filtered by the service and C(GET /nodes).
    An error of the engine on the first read fails the module, except with O(wait=true) an error
    5xx or no answer within 10 seconds (a manager without a leader, while the swarm elects one),
    which is tried again until
    O(timeout) (60 seconds when O(timeout=0)); with O(wait=true) a later read that fails is tried
    again until O(timeout).
  - Whether the containers are healthy is for the swarm to judge (a task whose container turns
    unhealthy is replaced, and with C(failure_action=rollback) the update rolled back); whether the
    service answers on its port is not checked here.
requirements:
  - Docker API >= 1.25 on a swarm manager.
"""

EXAMPLES = r"""
---
- name: Deploy the service
  community.docker.docker_swarm_service:
    name: accountservice
    image: accountservice:3f2a9c
    replicas: 2
  register: accountservice__service

- name: Wait until the new image runs on every replica and the update completed
  accountservice.swarm.swarm_rollout_info:
    name: accountservice
    image: accountservice:3f2a9c
    updated: "{{ accountservice__service is changed }}"
    wait: true
  register: accountservice__rollout

- name: Read the rollout once, without waiting
  accountservice.swarm.swarm_rollout_info:
    name: accountservice
  register: accountservice__state

- name: Show where the tasks run
  ansible.builtin.debug:
    msg: "{{ accountservice__state.running | map(attribute='node') | list }}"
"""

RETURN = r"""
exists:
  description: Whether the service exists. When it does not, RV(done) is V(false) and nothing fails.
  returned: always
  type: bool
  sample: true
service_id:
  description: The service's ID.
  returned: when RV(exists)
  type: str
mode:
  description: V(replicated) or V(global).
  returned: when RV(exists)
  type: str
  sample: replicated
ports:
  description:
    - The service's published ports, from its endpoint spec; empty when it publishes none.
    - C(mode) is C(ingress) (the routing mesh, every node answers) or C(host) (each node that
      runs a task answers).
  returned: always
  type: list
  elements: dict
  sample: [{published: 6767, target: 6767, protocol: tcp, mode: host}]
wanted:
  description:
    - How many tasks must run. For a replicated service its replicas; for a global service the
      number of live nodes with a task whose desired state is C(running) or C(ready) (a restarted
      task that waits for its restart delay). A global service with no such node is never done.
  returned: always
  type: int
  sample: 2
image:
  description: The image reference the tasks must run (O(image), or the spec's image).
  returned: always
  type: str
  sample: accountservice:3f2a9c
spec_image:
  description: The image the service's spec runs now (the previous one after a rollback).
  returned: when RV(exists)
  type: str
update_state:
  description: The service's C(UpdateStatus.State), or V(none) when it was never updated.
  returned: always
  type: str
  sample: completed
update_message:
  description: The service's C(UpdateStatus.Message).
  returned: always
  type: str
  sample: update completed
nodes:
  description: The swarm's nodes.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The node's ID.
      type: str
      returned: always
    hostname:
      description: The node's host name.
      type: str
      returned: always
    role:
      description: V(manager) or V(worker).
      type: str
      returned: always
    availability:
      description: V(active), V(pause) or V(drain).
      type: str
      returned: always
    state:
      description: The node's C(Status.State), for example V(ready) or V(down).
      type: str
      returned: always
    addr:
      description: The node's C(Status.Addr).
      type: str
      returned: always
    leader:
      description: Whether the node is the swarm's leader.
      type: bool
      returned: always
    reachability:
      description:
        - A manager's C(ManagerStatus.Reachability) (V(reachable), V(unreachable)).
        - V(null) for a worker.
      type: str
      returned: always
    live:
      description:
        - Whether its tasks count - its state is V(ready) and, for a manager, it is V(reachable).
      type: bool
      returned: always
tasks:
  description: The service's tasks (current and kept history), newest first by C(Status.Timestamp).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The task's ID.
      type: str
      returned: always
    slot:
      description: The task's slot; V(null) for a global service.
      type: int
      returned: always
    node_id:
      description: The ID of the node the task is assigned to, V(null) when unassigned.
      type: str
      returned: always
    node:
      description: The host name of that node, V(null) when unknown.
      type: str
      returned: always
    node_state:
      description: The state of that node, V(null) when unknown.
      type: str
      returned: always
    node_live:
      description: Whether that node is live (see RV(nodes[].live)).
      type: bool
      returned: always
    image:
      description: The image the task runs (C(Spec.ContainerSpec.Image)).
      type: str
      returned: always
    state:
      description: The task's C(Status.State).
      type: str
      returned: always
    desired_state:
      description: The task's C(DesiredState).
      type: str
      returned: always
    message:
      description: The task's C(Status.Err) when set, else its C(Status.Message).
      type: str
      returned: always
    exit_code:
      description: The container's exit code, V(null) when there is none.
      type: int
      returned: always
    container_id:
      description: The container's ID, V(null) when there is none.
      type: str
      returned: always
    timestamp:
      description: The task's C(Status.Timestamp).
      type: str
      returned: always
running:
  description:
    - The entries of RV(tasks) that count - desired state C(running), state C(running), on a live
      node, running RV(image).
  returned: always
  type: list
  elements: dict
unconfirmed:
  description:
    - The host names of the workers in RV(running) that O(confirmed_nodes) does not list; with
      O(wait=true) the module waited RV(settle) seconds before it trusted them.
  returned: always
  type: list
  elements: str
settle:
  description: The seconds used for O(settle); V(0) without O(wait=true).
  returned: always
  type: int
rollout_failed:
  description:
    - Whether this run's update failed, that is O(updated) and the update state is
      C(rollback_completed), C(rollback_paused) or C(paused).
    - Named so because a V(true) C(failed) key in a module's result fails the task, and with
      O(wait=false) the module does not fail on the rollout's state.
  returned: always
  type: bool
done:
  description:
    - RV(wanted) tasks count (RV(running)) and no update is under way or stopped, or, when
      O(updated=false), they count and the update state left from before is C(rollback_completed)
      or C(paused).
    - For a replicated service scaled to 0, also no task runs on a Ready node.
  returned: always
  type: bool
report:
  description: A report for a person to read - the update state, the image the spec runs, how
    many tasks count and up to 12 tasks, newest first.
  returned: always
  type: str
  sample: |-
    Service: accountservice (replicated, 2 wanted)
    Expected image: accountservice:3f2a9c
    Update state: rollback_completed rollback completed
    Now running: accountservice:1b0c77 (the previous version, rolled back)
    0 of 2 task(s) of accountservice:3f2a9c running on live nodes
    Tasks (newest first):
      accountservice.1 on node-1: accountservice:3f2a9c failed (desired shutdown)
      task: non-zero exit (1), exit code 1
timeout:
  description: The seconds waited at most (O(timeout), or the one derived from the spec).
  returned: always
  type: int
  sample: 95
waited:
  description: The seconds the module waited.
  returned: always
  type: float
  sample: 12.5
"""

import math
import re
import time
from calendar import timegm
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.accountservice.swarm.plugins.module_utils.docker_socket import (
    DockerSocket,
    DockerSocketError,
    dig,
)

UPDATE_UNSETTLED = (
    "updating",
    "rollback_started",
    "rollback_paused",
    "paused",
    "rollback_completed",
)
UPDATE_FAILED = ("rollback_completed", "rollback_paused", "paused")
UPDATE_LEFT_OVER = ("rollback_completed", "paused")
NANOSECONDS = 1_000_000_000
# Docker's defaults: a health check every 30 s, 3 retries, a 5 s update monitor period.
NO_HEALTHCHECK_SECONDS = 30
HEALTH_INTERVAL_SECONDS = 30
HEALTH_RETRIES = 3
MONITOR_SECONDS = 5
# The swarm marks a node down after 3 heartbeat periods without one (swarmkit's
# grace period multiplier); Docker's default period is 5 s.
HEARTBEAT_SECONDS = 5
HEARTBEAT_GRACE = 3
SETTLE_SLACK_SECONDS = 2
# How long a first read answered 5xx, or not in time, is tried again when the timeout is derived
UNAVAILABLE_SECONDS = 60
SLACK_SECONDS = 30
REPORT_TASKS = 12
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


class Snapshot:
    """One read of the engine: the service (None when missing), its tasks and the nodes."""

    def __init__(self, service: dict | None, tasks: list, nodes: list) -> None:
        self.service = service
        self.tasks = tasks
        self.nodes = nodes


def read_snapshot(client: DockerSocket, name: str) -> Snapshot:
    service = client.service(name)
    if service is None:
        return Snapshot(None, [], [])
    tasks = client.get("/tasks", {"filters": {"service": [name]}}) or []
    nodes = client.get("/nodes") or []
    return Snapshot(service, tasks, nodes)


def timestamp_key(value: str | None) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time; 0 when it does not parse.

    Go trims trailing zeros of the fraction, so the strings do not sort as text.
    """
    match = TIMESTAMP.match(value or "")
    if not match:
        return 0
    seconds = timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
    zone = match.group(3) or "Z"
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    fraction = (match.group(2) or "").ljust(9, "0")[:9]
    return seconds * NANOSECONDS + int(fraction)


def image_matches(task_image: str | None, expected: str | None) -> bool:
    if not task_image or not expected:
        return False
    return task_image == expected or task_image.startswith(expected + "@")


def node_summary(node: dict) -> dict[str, Any]:
    state = dig(node, "Status", "State")
    reachability = dig(node, "ManagerStatus", "Reachability")
    return {
        "id": node.get("ID"),
        "hostname": dig(node, "Description", "Hostname"),
        "role": dig(node, "Spec", "Role"),
        "availability": dig(node, "Spec", "Availability"),
        "state": state,
        "addr": dig(node, "Status", "Addr"),
        "leader": bool(dig(node, "ManagerStatus", "Leader", default=False)),
        "reachability": reachability,
        # A dead manager turns unreachable (Raft) well before the dispatcher
        # marks it down; a node being demoted or promoted may lack ManagerStatus.
        "live": state == "ready" and reachability in (None, "reachable"),
    }


def task_summary(task: dict, nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    node_id = task.get("NodeID") or None
    node = nodes.get(node_id) if node_id else None
    slot = task.get("Slot")
    return {
        "id": task.get("ID"),
        "slot": int(slot) if slot else None,
        "node_id": node_id,
        "node": node["hostname"] if node else None,
        "node_state": node["state"] if node else None,
        "node_live": bool(node and node["live"]),
        "image": dig(task, "Spec", "ContainerSpec", "Image"),
        "state": dig(task, "Status", "State"),
        "desired_state": task.get("DesiredState"),
        "message": dig(task, "Status", "Err") or dig(task, "Status", "Message", default=""),
        "exit_code": dig(task, "Status", "ContainerStatus", "ExitCode"),
        "container_id": dig(task, "Status", "ContainerStatus", "ContainerID"),
        "timestamp": dig(task, "Status", "Timestamp"),
    }


def published_ports(service: dict) -> list[dict[str, Any]]:
    """The service's published ports as its endpoint spec states them."""
    ports = dig(service, "Spec", "EndpointSpec", "Ports", default=None) or []
    return [
        {
            "published": port.get("PublishedPort"),
            "target": port.get("TargetPort"),
            "protocol": port.get("Protocol", "tcp"),
            "mode": port.get("PublishMode", "ingress"),
        }
        for port in ports
    ]


def service_mode(service: dict) -> str:
    mode = dig(service, "Spec", "Mode", default={})
    if "Global" in mode:
        return "global"
    if "Replicated" in mode or not mode:
        return "replicated"
    raise ValueError(
        f"the service runs in mode {next(iter(mode))}; only replicated and global services roll out"
    )


# Desired states of a task the swarm means to run: "ready" is a restarted task
# that waits for its restart delay
SCHEDULED = ("running", "ready")


def wanted_tasks(service: dict, mode: str, tasks: list[dict[str, Any]]) -> int:
    if mode == "global":
        return len(
            {
                task["node_id"]
                for task in tasks
                if task["desired_state"] in SCHEDULED and task["node_live"]
            }
        )
    # The engine always sets Replicas for a replicated service; the CLI creates one replica.
    return int(dig(service, "Spec", "Mode", "Replicated", "Replicas", default=1))


def _seconds(nanoseconds: Any) -> float:
    return int(nanoseconds or 0) / NANOSECONDS


def health_seconds(health: dict | None) -> float:
    """How long a new task takes at most to turn healthy, or to be judged unhealthy."""
    if not health:
        return NO_HEALTHCHECK_SECONDS
    if (health.get("Test") or [None])[0] == "NONE":
        return 0
    interval = _seconds(health.get("Interval")) or HEALTH_INTERVAL_SECONDS
    retries = int(health.get("Retries") or HEALTH_RETRIES)
    return _seconds(health.get("StartPeriod")) + interval * (retries + 1)


def derive_timeout(service: dict, wanted: int) -> int:
    update = dig(service, "Spec", "UpdateConfig", default={})
    parallelism = int(update.get("Parallelism") or 0)
    rounds = math.ceil(wanted / parallelism) if parallelism > 0 else 1
    container = dig(service, "Spec", "TaskTemplate", "ContainerSpec", default={})
    # The engine writes "Healthcheck"; the API reference spells it "HealthCheck".
    health = container.get("Healthcheck") or container.get("HealthCheck")
    monitor = _seconds(update.get("Monitor")) or MONITOR_SECONDS
    per_round = health_seconds(health) + monitor + _seconds(update.get("Delay"))
    return math.ceil(rounds * per_round + SLACK_SECONDS)


def evaluate(
    snapshot: Snapshot,
    name: str,
    image: str | None,
    updated: bool,
    confirmed: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """The module's results for one read of the engine."""
    nodes = [node_summary(node) for node in snapshot.nodes]
    nodes_by_id = {node["id"]: node for node in nodes}
    service = snapshot.service
    if service is None:
        results: dict[str, Any] = {
            "exists": False,
            "ports": [],
            "wanted": 0,
            "image": image or "",
            "update_state": "none",
            "update_message": "",
            "nodes": nodes,
            "tasks": [],
            "running": [],
            "unconfirmed": [],
            "rollout_failed": False,
            "done": False,
        }
        results["report"] = f"The service {name} does not exist."
        return results

    spec_image = dig(service, "Spec", "TaskTemplate", "ContainerSpec", "Image", default="")
    expected = image or spec_image
    tasks = [task_summary(task, nodes_by_id) for task in snapshot.tasks]
    tasks.sort(key=lambda task: timestamp_key(task["timestamp"]), reverse=True)
    mode = service_mode(service)
    wanted = wanted_tasks(service, mode, tasks)
    running = [
        task
        for task in tasks
        if task["desired_state"] == "running"
        and task["state"] == "running"
        and task["node_live"]
        and image_matches(task["image"], expected)
    ]
    # Reachable managers are known to be up (Raft); workers only once confirmed.
    unconfirmed = sorted(
        {
            task["node"] or task["node_id"]
            for task in running
            if nodes_by_id[task["node_id"]]["reachability"] != "reachable"
            and task["node_id"] not in confirmed
            and task["node"] not in confirmed
        }
    )
    update_state = dig(service, "UpdateStatus", "State") or "none"
    failed = bool(updated) and update_state in UPDATE_FAILED
    counted = len(running) == wanted
    done = (counted and update_state not in UPDATE_UNSETTLED) or (
        not updated and update_state in UPDATE_LEFT_OVER and counted
    )
    if mode == "global" and wanted == 0:
        # No task on any Ready node yet (just created, or every task between a
        # failure and its restart): nothing runs, so nothing is done.
        done = False
    if mode == "replicated" and wanted == 0:
        # Scaled to zero: done once no container of the service is left running.
        done = done and not any(task["state"] == "running" and task["node_live"] for task in tasks)
    results = {
        "exists": True,
        "service_id": service.get("ID"),
        "mode": mode,
        "ports": published_ports(service),
        "wanted": wanted,
        "image": expected,
        "spec_image": spec_image,
        "update_state": update_state,
        "update_message": dig(service, "UpdateStatus", "Message", default=""),
        "nodes": nodes,
        "tasks": tasks,
        "running": running,
        "unconfirmed": unconfirmed,
        "rollout_failed": failed,
        "done": done,
    }
    results["report"] = render_report(name, results)
    return results


def _spec_image_note(results: dict[str, Any]) -> str:
    if not results["rollout_failed"]:
        return ""
    state = results["update_state"]
    if state == "rollback_completed":
        return " (the previous version, rolled back)"
    if state == "rollback_paused":
        return " (the previous version; the rollback paused)"
    return " (the update paused)"


def task_line(name: str, task: dict[str, Any]) -> str:
    label = task["slot"] if task["slot"] is not None else task["node_id"] or "?"
    where = task["node"] or task["node_id"] or "unassigned"
    if task["node_id"] and task["node_state"] != "ready":
        where += " (node down)"
    elif task["node_id"] and not task["node_live"]:
        where += " (manager unreachable)"
    line = (
        f"{name}.{label} on {where}: {task['image']} {task['state']}"
        f" (desired {task['desired_state']})"
    )
    if task["message"]:
        line += " " + task["message"]
    if task["exit_code"] is not None and task["state"] != "running":
        line += f", exit code {task['exit_code']}"
    return line


def render_report(name: str, results: dict[str, Any]) -> str:
    update = results["update_state"]
    if results["update_message"]:
        update += " " + results["update_message"]
    lines = [
        f"Service: {name} ({results['mode']}, {results['wanted']} wanted)",
        f"Expected image: {results['image']}",
        f"Update state: {update}",
        f"Now running: {results['spec_image'] or '?'}{_spec_image_note(results)}",
        f"{len(results['running'])} of {results['wanted']} task(s) of {results['image']}"
        " running on live nodes",
    ]
    tasks = results["tasks"]
    if not tasks:
        lines.append("Tasks: none")
    else:
        lines.append("Tasks (newest first):")
        lines.extend("  " + task_line(name, task) for task in tasks[:REPORT_TASKS])
        if len(tasks) > REPORT_TASKS:
            lines.append(f"  ... and {len(tasks) - REPORT_TASKS} older task(s)")
    return "\n".join(lines)


def failure_message(name: str, results: dict[str, Any]) -> str:
    state = results["update_state"]
    if state == "rollback_completed":
        return (
            f"the swarm rolled the update of {name} back ({state}): "
            "a new task failed or turned unhealthy"
        )
    return (
        f"the swarm stopped the update of {name} ({state}): a new task failed or turned unhealthy"
    )


def timeout_message(results: dict[str, Any], timeout: int, error: str | None) -> str:
    message = (
        f"timed out after {timeout} s with {len(results['running'])} of {results['wanted']}"
        f" tasks of {results['image']} running on live nodes,"
        f" update state {results['update_state']}"
    )
    if results.get("unconfirmed"):
        message += "; not yet trusted (the swarm may not have noticed they are down): " + ", ".join(
            results["unconfirmed"]
        )
    if error:
        message += f"; the last read of the engine failed: {error}"
    return message


def derive_settle(client: DockerSocket) -> int:
    """Seconds after which the swarm has marked a node down that was dead at the start."""
    try:
        swarm = client.get("/swarm") or {}
    except DockerSocketError:
        swarm = {}
    period = _seconds(dig(swarm, "Spec", "Dispatcher", "HeartbeatPeriod")) or HEARTBEAT_SECONDS
    return math.ceil(period * HEARTBEAT_GRACE + SETTLE_SLACK_SECONDS)


def watch(
    client: DockerSocket,
    params: dict[str, Any],
    check_mode: bool,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], str | None]:
    """Read the rollout, and with wait poll until it settles; (results, failure message)."""
    name = params["name"]
    image = params.get("image")
    updated = bool(params.get("updated"))
    confirmed = list(params.get("confirmed_nodes") or [])
    may_wait = bool(params.get("wait")) and not check_mode
    poll = float(params.get("poll_interval") or 1.0)
    start = clock()
    while True:
        try:
            snapshot = read_snapshot(client, name)
            break
        except DockerSocketError as exc:
            # A manager answers 503, or not at all for a while, as the swarm elects a new leader
            if not may_wait or not exc.unavailable:
                raise
            limit = int(params.get("timeout") or 0) or UNAVAILABLE_SECONDS
            if clock() - start >= limit:
                raise DockerSocketError(
                    f"{exc.message} (still after {limit} s)", exc.status
                ) from exc
            sleep(poll)
    results = evaluate(snapshot, name, image, updated, confirmed)
    timeout = int(params.get("timeout") or 0)
    if not timeout and snapshot.service is not None:
        timeout = derive_timeout(snapshot.service, results["wanted"])
    failure = None
    settle = 0
    waiting = may_wait and results["exists"]
    if waiting:
        settle = params.get("settle")
        settle = derive_settle(client) if settle is None or settle < 0 else int(settle)
        settle = min(settle, timeout)

    def settled() -> bool:
        return results["done"] and (not results["unconfirmed"] or clock() - start >= settle)

    if waiting:
        deadline = start + timeout
        error = None
        while not (settled() or results["rollout_failed"]):
            remaining = deadline - clock()
            if remaining <= 0:
                failure = timeout_message(results, timeout, error)
                break
            sleep(min(poll, remaining))
            try:
                snapshot = read_snapshot(client, name)
            except DockerSocketError as exc:
                # A manager may not answer for a moment, as during a leader election.
                error = exc.message
                continue
            error = None
            results = evaluate(snapshot, name, image, updated, confirmed)
            if not results["exists"]:
                break
        if results["rollout_failed"]:
            failure = failure_message(name, results)
        elif failure and results["done"]:
            # Only the settle period ran out (it never exceeds the timeout)
            failure = None
    results["timeout"] = timeout
    results["settle"] = settle
    results["waited"] = round(clock() - start, 3)
    return results, failure


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            image=dict(type="str"),
            updated=dict(type="bool", default=False),
            wait=dict(type="bool", default=False),
            timeout=dict(type="int", default=0),
            poll_interval=dict(type="float", default=1.0),
            confirmed_nodes=dict(type="list", elements="str", default=[]),
            settle=dict(type="int", default=-1),
            docker_socket=dict(type="path", default="/var/run/docker.sock"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 0:
        module.fail_json(msg=f"timeout must be 0 or more seconds, got {params['timeout']}")
    if params["poll_interval"] <= 0:
        module.fail_json(msg=f"poll_interval must be more than 0, got {params['poll_interval']}")
    client = DockerSocket(params["docker_socket"])
    try:
        results, failure = watch(client, params, module.check_mode)
    except DockerSocketError as error:
        module.fail_json(msg=f"reading the service {params['name']}: {error.message}")
    except ValueError as error:
        module.fail_json(msg=f"{params['name']}: {error}")
    if failure:
        module.fail_json(msg=failure + "\n" + results["report"], changed=False, **results)
    module.exit_json(changed=False, **results)


if __name__ == "__main__":
    main()
