from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.accountservice.swarm.plugins.module_utils.docker_socket import DockerSocket
from ansible_collections.accountservice.swarm.plugins.modules import swarm_rollout_info
from ansible_collections.accountservice.swarm.plugins.modules.swarm_rollout_info import (
    Snapshot,
    derive_timeout,
    evaluate,
    timestamp_key,
    watch,
)

NAME = "accountservice"
OLD = "accountservice:1b0c77"
NEW = "accountservice:3f2a9c"
DIGEST = "@sha256:" + "ab" * 32
SECOND = 1_000_000_000

# Shapes as the Docker Engine API (1.41) returns them for GET /nodes, /services/{id} and /tasks.


def node(
    node_id: str,
    hostname: str,
    state: str = "ready",
    role: str = "worker",
    leader: bool = False,
    addr: str = "10.0.0.2",
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ID": node_id,
        "Version": {"Index": 31},
        "CreatedAt": "2024-05-01T09:00:00.100Z",
        "UpdatedAt": "2024-05-01T09:30:00.2Z",
        "Spec": {"Labels": {}, "Role": role, "Availability": "active"},
        "Description": {
            "Hostname": hostname,
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Resources": {"NanoCPUs": 2000000000, "MemoryBytes": 25000000000},
            "Engine": {"EngineVersion": "20.10.24", "Plugins": []},
            "TLSInfo": {"TrustRoot": "-----BEGIN CERTIFICATE-----\n"},
        },
        "Status": {"State": state, "Addr": addr},
    }
    if state != "ready":
        data["Status"]["Message"] = "heartbeat failure"
    if role == "manager":
        data["ManagerStatus"] = {
            "Leader": leader,
            "Reachability": "reachable",
            "Addr": addr + ":2377",
        }
    return data


NODES = [
    node("n1", "node-1", role="manager", leader=True, addr="10.0.0.1"),
    node("n2", "node-2", addr="10.0.0.2"),
]


def service(
    image: str,
    replicas: int | None = 2,
    update_state: str | None = None,
    message: str = "",
    health: dict[str, Any] | None = None,
    update_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "Image": image,
        "Init": False,
        "StopGracePeriod": 10 * SECOND,
        "DNSConfig": {},
        "Isolation": "default",
    }
    if health is not None:
        container["Healthcheck"] = health
    data: dict[str, Any] = {
        "ID": "9mnpnzenvg8p8tdbtq4wvbkcz",
        "Version": {"Index": 120},
        "CreatedAt": "2024-05-01T10:00:00.5Z",
        "UpdatedAt": "2024-05-01T10:05:00.123456789Z",
        "Spec": {
            "Name": NAME,
            "Labels": {},
            "TaskTemplate": {
                "ContainerSpec": container,
                "Resources": {"Limits": {}, "Reservations": {}},
                "RestartPolicy": {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0},
                "Placement": {},
                "ForceUpdate": 0,
                "Runtime": "container",
            },
            "Mode": {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}},
            "UpdateConfig": update_config
            if update_config is not None
            else {
                "Parallelism": 1,
                "FailureAction": "rollback",
                "Monitor": 10 * SECOND,
                "MaxFailureRatio": 0,
                "Order": "start-first",
            },
            "EndpointSpec": {"Mode": "dnsrr"},
        },
        "Endpoint": {"Spec": {"Mode": "dnsrr"}},
    }
    if update_state is not None:
        data["UpdateStatus"] = {
            "State": update_state,
            "StartedAt": "2024-05-01T10:05:00.2Z",
            "Message": message,
        }
    return data


def task(
    task_id: str,
    slot: int | None,
    node_id: str,
    image: str,
    state: str = "running",
    desired: str = "running",
    second: int = 0,
    err: str | None = None,
    exit_code: int | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "Timestamp": f"2024-05-01T10:06:{second:02d}.5Z",
        "State": state,
        "Message": "started" if state == "running" else state,
        "PortStatus": {},
    }
    if err:
        status["Err"] = err
    if state in ("running", "failed", "shutdown", "complete"):
        status["ContainerStatus"] = {
            "ContainerID": f"c0ffee{task_id}",
            "PID": 4242 if state == "running" else 0,
            "ExitCode": exit_code if exit_code is not None else 0,
        }
    data: dict[str, Any] = {
        "ID": task_id,
        "Version": {"Index": 130},
        "CreatedAt": "2024-05-01T10:05:01.1Z",
        "UpdatedAt": status["Timestamp"],
        "Labels": {},
        "Spec": {
            "ContainerSpec": {"Image": image, "Init": False, "Isolation": "default"},
            "Resources": {"Limits": {}, "Reservations": {}},
            "RestartPolicy": {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0},
            "Placement": {},
            "ForceUpdate": 0,
        },
        "ServiceID": "9mnpnzenvg8p8tdbtq4wvbkcz",
        "NodeID": node_id,
        "Status": status,
        "DesiredState": desired,
        "NetworksAttachments": [],
    }
    if slot is not None:
        data["Slot"] = slot
    return data


def frame(svc: dict[str, Any] | None, tasks: list, nodes: list | None = None) -> dict[str, Any]:
    return {"service": svc, "tasks": tasks, "nodes": NODES if nodes is None else nodes}


def args(engine, **extra: Any) -> dict[str, Any]:
    # settle=0 trusts Ready workers at once; the settle tests below set it
    return {"name": NAME, "docker_socket": engine.path, "poll_interval": 0.01, "settle": 0, **extra}


def wait_for_failed_update(
    fake_engine, run_module, *, timeout: int, rollout_failed: bool
) -> dict[str, Any]:
    """Wait for this run's update to NEW, which fails; the module's result."""
    rc, result = run_module(
        swarm_rollout_info.main,
        args(fake_engine, image=NEW, updated=True, wait=True, timeout=timeout),
    )
    assert rc == 1
    assert result["failed"] is True
    assert result["done"] is False
    assert result["rollout_failed"] is rollout_failed
    return result


def test_done_after_a_few_polls(fake_engine, run_module) -> None:
    fake_engine.script(
        frame(
            service(NEW, update_state="updating", message="update in progress"),
            [task("a1", 1, "n1", OLD, second=1), task("a2", 2, "n2", OLD, second=2)],
        ),
        frame(
            service(NEW, update_state="updating", message="update in progress"),
            [
                task("b1", 1, "n1", NEW + DIGEST, second=5),
                task("a1", 1, "n1", OLD, state="shutdown", desired="shutdown", second=6),
                task("a2", 2, "n2", OLD, second=2),
            ],
        ),
        frame(
            service(NEW, update_state="completed", message="update completed"),
            [
                task("b1", 1, "n1", NEW + DIGEST, second=5),
                task("b2", 2, "n2", NEW + DIGEST, second=9),
                task("a1", 1, "n1", OLD, state="shutdown", desired="shutdown", second=6),
                task("a2", 2, "n2", OLD, state="shutdown", desired="shutdown", second=10),
            ],
        ),
    )

    rc, result = run_module(
        swarm_rollout_info.main, args(fake_engine, image=NEW, updated=True, wait=True, timeout=10)
    )

    assert rc == 0, result.get("msg")
    assert result["changed"] is False
    assert result["done"] is True
    assert result["rollout_failed"] is False
    assert "failed" not in result
    assert result["exists"] is True
    assert result["mode"] == "replicated"
    assert result["wanted"] == 2
    assert result["image"] == NEW
    assert result["update_state"] == "completed"
    assert result["update_message"] == "update completed"
    assert [t["id"] for t in result["running"]] == ["b2", "b1"]
    assert [t["id"] for t in result["tasks"]] == ["a2", "b2", "a1", "b1"]
    assert result["timeout"] == 10
    assert 0 <= result["waited"] < 10
    assert len(fake_engine.paths("/services/")) == 3
    assert fake_engine.paths() == ["/services/accountservice", "/tasks", "/nodes"] * 3
    tasks_query = fake_engine.requests[1][1]
    assert json.loads(tasks_query["filters"][0]) == {"service": [NAME]}
    assert result["nodes"] == [
        {
            "id": "n1",
            "hostname": "node-1",
            "role": "manager",
            "availability": "active",
            "state": "ready",
            "addr": "10.0.0.1",
            "leader": True,
            "reachability": "reachable",
            "live": True,
        },
        {
            "id": "n2",
            "hostname": "node-2",
            "role": "worker",
            "availability": "active",
            "state": "ready",
            "addr": "10.0.0.2",
            "leader": False,
            "reachability": None,
            "live": True,
        },
    ]
    assert result["running"][0] == {
        "id": "b2",
        "slot": 2,
        "node_id": "n2",
        "node": "node-2",
        "node_state": "ready",
        "node_live": True,
        "image": NEW + DIGEST,
        "state": "running",
        "desired_state": "running",
        "message": "started",
        "exit_code": 0,
        "container_id": "c0ffeeb2",
        "timestamp": "2024-05-01T10:06:09.5Z",
    }


ROLLED_BACK_TASKS = [
    task("a1", 1, "n1", OLD, second=1),
    task("a2", 2, "n2", OLD, second=2),
    task(
        "b1",
        1,
        "n1",
        NEW,
        state="failed",
        desired="shutdown",
        second=8,
        err="task: non-zero exit (3)",
        exit_code=3,
    ),
]


def test_rollback_after_an_update_fails_with_the_report(fake_engine, run_module) -> None:
    fake_engine.script(
        frame(service(NEW, update_state="updating", message="update in progress"), []),
        frame(
            service(
                OLD,
                update_state="rollback_started",
                message="update rolled back due to failure or early termination of task b1",
            ),
            ROLLED_BACK_TASKS,
        ),
        frame(
            service(OLD, update_state="rollback_completed", message="rollback completed"),
            ROLLED_BACK_TASKS,
        ),
    )

    result = wait_for_failed_update(fake_engine, run_module, timeout=10, rollout_failed=True)

    first, rest = result["msg"].split("\n", 1)
    assert first.startswith("the swarm rolled the update of accountservice back")
    assert rest == result["report"]
    assert result["spec_image"] == OLD
    report = result["report"].splitlines()
    assert report[:5] == [
        "Service: accountservice (replicated, 2 wanted)",
        f"Expected image: {NEW}",
        "Update state: rollback_completed rollback completed",
        f"Now running: {OLD} (the previous version, rolled back)",
        f"0 of 2 task(s) of {NEW} running on live nodes",
    ]
    assert report[5] == "Tasks (newest first):"
    assert report[6] == (
        f"  accountservice.1 on node-1: {NEW} failed (desired shutdown)"
        " task: non-zero exit (3), exit code 3"
    )
    assert report[7] == f"  accountservice.2 on node-2: {OLD} running (desired running) started"
    assert len(fake_engine.paths("/services/")) == 3


def test_rollback_without_wait_does_not_fail(fake_engine, run_module) -> None:
    fake_engine.script(
        frame(
            service(OLD, update_state="rollback_completed", message="rollback completed"),
            ROLLED_BACK_TASKS,
        )
    )
    rc, result = run_module(swarm_rollout_info.main, args(fake_engine, image=NEW, updated=True))
    assert rc == 0
    assert result["rollout_failed"] is True
    assert result["done"] is False
    assert "failed" not in result


def test_stale_rollback_without_update_is_done(fake_engine, run_module) -> None:
    fake_engine.script(
        frame(
            service(OLD, update_state="rollback_completed", message="rollback completed"),
            ROLLED_BACK_TASKS,
        )
    )
    rc, result = run_module(swarm_rollout_info.main, args(fake_engine, wait=True, timeout=10))
    assert rc == 0, result.get("msg")
    assert result["image"] == OLD
    assert result["done"] is True
    assert result["rollout_failed"] is False
    assert "(the previous version" not in result["report"]
    assert len(fake_engine.paths("/services/")) == 1


def test_tasks_on_a_down_node_do_not_count(fake_engine, run_module) -> None:
    nodes = [NODES[0], node("n2", "node-2", state="down")]
    fake_engine.script(
        frame(
            service(NEW, update_state="completed", message="update completed"),
            [task("b1", 1, "n1", NEW, second=3), task("b2", 2, "n2", NEW, second=4)],
            nodes,
        )
    )

    result = wait_for_failed_update(fake_engine, run_module, timeout=1, rollout_failed=False)

    assert [t["id"] for t in result["running"]] == ["b1"]
    first = result["msg"].splitlines()[0]
    assert first.startswith(f"timed out after 1 s with 1 of 2 tasks of {NEW} running on live nodes")
    assert f"  accountservice.2 on node-2 (node down): {NEW} running" in result["report"]
    assert 1 <= result["waited"] < 5
    assert len(fake_engine.paths("/services/")) > 2


def test_global_mode_counts_ready_nodes(fake_engine, run_module) -> None:
    nodes = [*NODES, node("n3", "node-3", state="down", addr="10.0.0.3")]
    tasks = [
        task("g1", None, "n1", NEW, second=1),
        task("g2", None, "n2", NEW, second=2),
        task("g3", None, "n3", NEW, second=3),
    ]
    fake_engine.script(frame(service(NEW, replicas=None, update_state="completed"), tasks, nodes))

    rc, result = run_module(swarm_rollout_info.main, args(fake_engine, wait=True, timeout=5))

    assert rc == 0, result.get("msg")
    assert result["mode"] == "global"
    assert result["wanted"] == 2
    assert result["done"] is True
    assert sorted(t["node"] for t in result["running"]) == ["node-1", "node-2"]
    assert all(t["slot"] is None for t in result["tasks"])
    assert "  accountservice.n3 on node-3 (node down):" in result["report"]


def test_global_mode_waits_for_a_missing_node_task() -> None:
    tasks = [
        task("g1", None, "n1", NEW, second=1),
        task("g2", None, "n2", NEW, state="starting", second=2),
    ]
    results = evaluate(Snapshot(service(NEW, replicas=None), tasks, NODES), NAME, None, False)
    assert results["wanted"] == 2
    assert len(results["running"]) == 1
    assert results["done"] is False


def test_global_mode_counts_a_task_waiting_for_its_restart_delay() -> None:
    tasks = [
        task("g2", None, "n1", NEW, state="ready", desired="ready", second=2),
        task("g1", None, "n1", NEW, state="failed", desired="shutdown", second=1, exit_code=1),
    ]
    results = evaluate(Snapshot(service(NEW, replicas=None), tasks, NODES), NAME, None, False)
    assert results["wanted"] == 1
    assert results["running"] == []
    assert results["done"] is False


def test_global_mode_with_no_task_on_a_ready_node_is_not_done() -> None:
    tasks = [task("g1", None, "n1", NEW, state="failed", desired="shutdown", exit_code=1)]
    results = evaluate(
        Snapshot(service(NEW, replicas=None, update_state="completed"), tasks, NODES),
        NAME,
        None,
        False,
    )
    assert results["wanted"] == 0
    assert results["done"] is False


def test_missing_service(fake_engine, run_module) -> None:
    fake_engine.script(frame(None, []))
    rc, result = run_module(swarm_rollout_info.main, args(fake_engine, wait=True, updated=True))
    assert rc == 0
    assert result["exists"] is False
    assert result["done"] is False
    assert result["rollout_failed"] is False
    assert result["running"] == []
    assert fake_engine.paths() == ["/services/accountservice"]


def test_engine_error_fails(fake_engine, run_module) -> None:
    fake_engine.script(
        {
            "error": (
                503,
                'This node is not a swarm manager. Use "docker swarm init" or'
                ' "docker swarm join" to connect this node to swarm and try again.',
            )
        }
    )
    rc, result = run_module(swarm_rollout_info.main, args(fake_engine))
    assert rc == 1
    assert "This node is not a swarm manager" in result["msg"]


def test_transient_engine_error_while_waiting_is_retried(fake_engine, run_module) -> None:
    running = [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)]
    fake_engine.script(
        frame(service(NEW, update_state="updating"), running[:1]),
        {"error": (500, "rpc error: code = Unknown desc = context deadline exceeded")},
        frame(service(NEW, update_state="completed"), running),
    )
    rc, result = run_module(
        swarm_rollout_info.main, args(fake_engine, updated=True, wait=True, timeout=10)
    )
    assert rc == 0, result.get("msg")
    assert result["done"] is True


def test_check_mode_reads_once(fake_engine, run_module) -> None:
    fake_engine.script(
        frame(service(NEW, update_state="updating"), [task("b1", 1, "n1", NEW)]),
        frame(service(NEW, update_state="completed"), [task("b1", 1, "n1", NEW)]),
    )
    rc, result = run_module(
        swarm_rollout_info.main,
        args(fake_engine, updated=True, wait=True, timeout=30, _ansible_check_mode=True),
    )
    assert rc == 0
    assert result["done"] is False
    assert result["update_state"] == "updating"
    assert result["waited"] < 1
    assert fake_engine.paths() == ["/services/accountservice", "/tasks", "/nodes"]


def test_derived_timeout_is_returned(fake_engine, run_module) -> None:
    health = {
        "Test": ["CMD", "python3", "-m", "accountservice.healthcheck"],
        "Interval": 2 * SECOND,
        "Timeout": 2 * SECOND,
        "StartPeriod": 5 * SECOND,
        "Retries": 3,
    }
    update = {"Parallelism": 2, "Delay": SECOND, "Monitor": 10 * SECOND, "Order": "start-first"}
    fake_engine.script(frame(service(NEW, replicas=3, health=health, update_config=update), []))
    rc, result = run_module(swarm_rollout_info.main, args(fake_engine))
    assert rc == 0
    # 2 rounds of (5 + 2 * (3 + 1) + 10 + 1) seconds, plus 30.
    assert result["timeout"] == 78


@pytest.mark.parametrize(
    ("replicas", "health", "update", "expected"),
    [
        # No health check (30 s), no monitor (5 s), no parallelism: one round.
        (4, None, {}, 65),
        # Parallelism 0 updates every task at once.
        (4, None, {"Parallelism": 0, "Monitor": 20 * SECOND}, 80),
        # Health check inherited from the image with its own interval and retries only.
        (1, {"Interval": 3 * SECOND, "Retries": 1}, {"Parallelism": 1}, 41),
        # Health check disabled.
        (2, {"Test": ["NONE"]}, {"Parallelism": 1, "Monitor": 5 * SECOND}, 40),
        # Docker's defaults for a health check with only a test: 30 s interval, 3 retries.
        (1, {"Test": ["CMD", "true"]}, {"Parallelism": 1}, 155),
        # Fractions of a second round up.
        (3, None, {"Parallelism": 1, "Delay": SECOND // 2}, 137),
    ],
)
def test_derive_timeout(replicas: int, health, update: dict, expected: int) -> None:
    svc = service(NEW, replicas=replicas, health=health, update_config=update)
    assert derive_timeout(svc, replicas) == expected


def test_derive_timeout_accepts_the_api_reference_spelling() -> None:
    svc = service(NEW, replicas=1, update_config={"Parallelism": 1})
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["HealthCheck"] = {
        "Test": ["CMD", "true"],
        "Interval": SECOND,
        "Retries": 1,
    }
    assert derive_timeout(svc, 1) == 2 + 5 + 30


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedClient:
    def __init__(self, *snapshots: Snapshot) -> None:
        self.snapshots = list(snapshots)
        self.reads = 0

    def get(self, path: str, params: dict | None = None) -> Any:
        current = self.snapshots[min(self.reads, len(self.snapshots) - 1)]
        if path.startswith("/services/"):
            self.reads += 1
            return current.service
        return current.tasks if path == "/tasks" else current.nodes

    # GET /services/NAME through get(), as the real client does it
    service = DockerSocket.service


def test_watch_times_out_at_the_derived_timeout() -> None:
    svc = service(NEW, replicas=1, update_state="updating", update_config={"Parallelism": 1})
    client = ScriptedClient(Snapshot(svc, [], NODES))
    clock = FakeClock()
    params = {"name": NAME, "wait": True, "updated": True, "timeout": 0, "poll_interval": 2.0}

    results, failure = watch(client, params, False, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]

    assert results["timeout"] == 65
    assert results["waited"] == 65
    assert failure is not None
    assert failure.startswith(f"timed out after 65 s with 0 of 1 tasks of {NEW} running")
    assert sum(clock.sleeps) == 65
    assert max(clock.sleeps) == 2.0
    assert client.reads == 1 + len(clock.sleeps)


def test_scaled_to_zero_is_done_once_nothing_runs() -> None:
    svc = service(NEW, replicas=0, update_state="completed")
    stopping = [task("b1", 1, "n1", NEW, desired="shutdown")]
    assert evaluate(Snapshot(svc, stopping, NODES), NAME, None, True)["done"] is False
    stopped = [task("b1", 1, "n1", NEW, state="shutdown", desired="shutdown")]
    results = evaluate(Snapshot(svc, stopped, NODES), NAME, None, True)
    assert results["wanted"] == 0
    assert results["done"] is True


def test_image_prefix_must_end_at_the_digest() -> None:
    svc = service(NEW, replicas=2, update_state="completed")
    tasks = [task("b1", 1, "n1", NEW + DIGEST), task("b2", 2, "n2", NEW + "-debug")]
    results = evaluate(Snapshot(svc, tasks, NODES), NAME, NEW, True)
    assert [t["id"] for t in results["running"]] == ["b1"]
    assert results["done"] is False


def test_paused_update_fails_only_when_updated() -> None:
    svc = service(NEW, replicas=1, update_state="paused", message="update paused due to failure")
    tasks = [task("b1", 1, "n1", NEW)]
    updated = evaluate(Snapshot(svc, tasks, NODES), NAME, NEW, True)
    assert updated["rollout_failed"] is True
    assert updated["done"] is False
    assert "(the update paused)" in updated["report"]
    stale = evaluate(Snapshot(svc, tasks, NODES), NAME, NEW, False)
    assert stale["rollout_failed"] is False
    assert stale["done"] is True


def test_report_lists_at_most_twelve_tasks() -> None:
    tasks = [
        task(f"t{i:02d}", 1, "n1", OLD, state="failed", desired="shutdown", second=i, exit_code=1)
        for i in range(15)
    ]
    report = evaluate(Snapshot(service(NEW, replicas=1), tasks, NODES), NAME, None, False)["report"]
    lines = [line for line in report.splitlines() if line.startswith("  accountservice.")]
    assert len(lines) == 12
    assert "2024-05-01" not in report
    assert report.splitlines()[-1] == "  ... and 3 older task(s)"


def test_unassigned_task_in_report() -> None:
    pending = task("p1", 1, "", NEW, state="pending", second=3)
    pending["Status"]["Err"] = "no suitable node (1 node not available for new tasks)"
    results = evaluate(Snapshot(service(NEW, replicas=1), [pending], NODES), NAME, None, False)
    assert results["tasks"][0]["node_id"] is None
    assert (
        f"  accountservice.1 on unassigned: {NEW} pending (desired running)"
        " no suitable node (1 node not available for new tasks)"
    ) in results["report"]


def test_timestamps_sort_as_times_not_text() -> None:
    # Go trims trailing zeros: "10:00:00Z" is earlier than "10:00:00.1Z", though it sorts after it.
    assert timestamp_key("2024-05-01T10:00:00Z") < timestamp_key("2024-05-01T10:00:00.1Z")
    assert timestamp_key("2024-05-01T10:00:00.5Z") > timestamp_key("2024-05-01T10:00:00.123456789Z")
    assert timestamp_key("2024-05-01T12:00:00+02:00") == timestamp_key("2024-05-01T10:00:00Z")
    assert timestamp_key("0001-01-01T00:00:00Z") < timestamp_key("2024-05-01T10:00:00Z")
    assert timestamp_key("garbage") == 0


def test_bad_poll_interval_fails(fake_engine, run_module) -> None:
    rc, result = run_module(swarm_rollout_info.main, args(fake_engine, poll_interval=0))
    assert rc == 1
    assert "poll_interval" in result["msg"]
    assert fake_engine.requests == []


def test_published_ports_come_from_the_endpoint_spec() -> None:
    published = service(NEW)
    published["Spec"]["EndpointSpec"]["Ports"] = [
        {"Protocol": "tcp", "TargetPort": 6767, "PublishedPort": 8080, "PublishMode": "host"},
        {"TargetPort": 9000, "PublishedPort": 9000},
    ]

    assert swarm_rollout_info.published_ports(published) == [
        {"published": 8080, "target": 6767, "protocol": "tcp", "mode": "host"},
        {"published": 9000, "target": 9000, "protocol": "tcp", "mode": "ingress"},
    ]
    assert swarm_rollout_info.published_ports(service(NEW)) == []


def dead_leader_nodes() -> list[dict[str, Any]]:
    """node-1, the leader, was killed: Raft calls it unreachable, the dispatcher still ready."""
    leader = node("n1", "node-1", role="manager", leader=True, addr="10.0.0.1")
    leader["ManagerStatus"] = {
        "Leader": False,
        "Reachability": "unreachable",
        "Addr": "10.0.0.1:2377",
    }
    return [
        leader,
        node("n2", "node-2", role="manager", leader=True, addr="10.0.0.2"),
        node("n3", "node-3", role="manager", addr="10.0.0.3"),
    ]


def test_tasks_on_an_unreachable_manager_do_not_count() -> None:
    svc = service(NEW, replicas=2, update_state="completed")
    tasks = [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)]
    results = evaluate(Snapshot(svc, tasks, dead_leader_nodes()), NAME, None, True)
    assert [t["id"] for t in results["running"]] == ["b2"]
    assert results["done"] is False
    assert results["nodes"][0]["live"] is False
    assert results["unconfirmed"] == []
    assert f"accountservice.1 on node-1 (manager unreachable): {NEW} running" in results["report"]
    assert "1 of 2 task(s)" in results["report"]


def test_global_mode_leaves_out_an_unreachable_manager() -> None:
    svc = service(NEW, replicas=None, update_state="completed")
    tasks = [task(f"g{i}", None, f"n{i}", NEW, second=i) for i in (1, 2, 3)]
    results = evaluate(Snapshot(svc, tasks, dead_leader_nodes()), NAME, None, False)
    assert results["wanted"] == 2
    assert results["done"] is True
    assert sorted(t["node"] for t in results["running"]) == ["node-2", "node-3"]


class TimedClient:
    """Answers from the snapshot whose start time (on the fake clock) passed last; GET /swarm
    answers swarm (or fails with 503 when it is None)."""

    def __init__(
        self, clock: FakeClock, timeline: list[tuple[float, Snapshot]], swarm=None
    ) -> None:
        self.clock = clock
        self.timeline = timeline
        self.swarm = swarm
        self.paths: list[str] = []

    def get(self, path: str, params: dict | None = None) -> Any:
        self.paths.append(path)
        if path == "/swarm":
            if self.swarm is None:
                raise swarm_rollout_info.DockerSocketError("This node is not a swarm manager", 503)
            return self.swarm
        elapsed = self.clock() - 100.0
        current = [snap for start, snap in self.timeline if start <= elapsed][-1]
        if path.startswith("/services/"):
            return current.service
        return current.tasks if path == "/tasks" else current.nodes

    service = DockerSocket.service


def killed_worker_timeline(down_after: float) -> list[tuple[float, Snapshot]]:
    """Two replicas, one on node-2, a worker killed just before the gate started: the swarm
    keeps it ready, its task Running, until the heartbeat expires after down_after seconds;
    the replacement cannot be placed (a constraint only node-2 meets)."""
    svc = service(NEW, replicas=2, update_state="completed")
    tasks = [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)]
    down = [NODES[0], node("n2", "node-2", state="down")]
    pending = [*tasks, task("c2", 2, "", NEW, state="pending", second=30)]
    return [(0.0, Snapshot(svc, tasks, NODES)), (down_after, Snapshot(svc, pending, down))]


def gate_params(**extra: Any) -> dict[str, Any]:
    return {
        "name": NAME,
        "wait": True,
        "updated": False,
        "timeout": 60,
        "poll_interval": 1.0,
        **extra,
    }


def test_a_dead_worker_still_ready_does_not_fool_the_gate() -> None:
    clock = FakeClock()
    client = TimedClient(clock, killed_worker_timeline(down_after=14.0))

    results, failure = watch(client, gate_params(), False, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]

    # No GET /swarm answer: Docker's default heartbeat, 3 x 5 s + 2 s
    assert results["settle"] == 17
    assert failure is not None
    assert failure.startswith(
        f"timed out after 60 s with 1 of 2 tasks of {NEW} running on live nodes"
    )
    assert results["done"] is False
    assert "accountservice.2 on node-2 (node down)" in results["report"]
    assert results["waited"] == 60


def test_without_settle_the_dead_worker_fools_the_gate() -> None:
    # What the gate did before it waited for the heartbeat: done at the first read
    clock = FakeClock()
    client = TimedClient(clock, killed_worker_timeline(down_after=14.0))
    results, failure = watch(client, gate_params(settle=0), False, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert failure is None
    assert results["done"] is True
    assert results["waited"] == 0


def test_settle_follows_the_swarm_heartbeat_period() -> None:
    clock = FakeClock()
    swarm = {"Spec": {"Dispatcher": {"HeartbeatPeriod": 2 * SECOND}}}
    svc = service(NEW, replicas=2, update_state="completed")
    tasks = [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)]
    client = TimedClient(clock, [(0.0, Snapshot(svc, tasks, NODES))], swarm=swarm)

    results, failure = watch(client, gate_params(), False, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]

    assert failure is None
    assert results["settle"] == 8
    assert results["done"] is True
    assert results["unconfirmed"] == ["node-2"]
    assert results["waited"] == 8
    assert "/swarm" in client.paths


def test_confirmed_nodes_and_reachable_managers_count_at_once() -> None:
    clock = FakeClock()
    svc = service(NEW, replicas=2, update_state="completed")
    tasks = [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)]
    client = TimedClient(clock, [(0.0, Snapshot(svc, tasks, NODES))])

    for confirmed in (["node-2"], ["n2"]):
        results, failure = watch(  # type: ignore[arg-type]
            client, gate_params(confirmed_nodes=confirmed), False, clock=clock, sleep=clock.sleep
        )
        assert failure is None
        assert results["unconfirmed"] == []
        assert results["waited"] == 0


def test_settle_never_outlasts_the_timeout() -> None:
    clock = FakeClock()
    svc = service(NEW, replicas=2, update_state="completed")
    tasks = [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)]
    client = TimedClient(clock, [(0.0, Snapshot(svc, tasks, NODES))])

    results, failure = watch(
        client, gate_params(timeout=5, settle=30), False, clock=clock, sleep=clock.sleep
    )  # type: ignore[arg-type]

    assert failure is None
    assert results["settle"] == 5
    assert results["done"] is True
    assert results["waited"] == 5


def test_a_read_without_wait_does_not_settle(fake_engine, run_module) -> None:
    fake_engine.script(
        frame(
            service(NEW, update_state="completed"),
            [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)],
        )
    )
    rc, result = run_module(swarm_rollout_info.main, args(fake_engine, settle=-1))
    assert rc == 0, result.get("msg")
    assert result["done"] is True
    assert result["settle"] == 0
    assert result["unconfirmed"] == ["node-2"]
    assert "/swarm" not in fake_engine.paths()


class ElectingClient(ScriptedClient):
    """Answers 503 (no leader yet) to the first `failures` reads of the service."""

    def __init__(self, failures: int, status: int | None, *snapshots: Snapshot) -> None:
        super().__init__(*snapshots)
        self.failures = failures
        self.status = status

    def get(self, path: str, params: dict | None = None) -> Any:
        if path.startswith("/services/") and self.failures > 0:
            self.failures -= 1
            if self.status is None:
                # The manager took the connection and did not answer in time
                raise swarm_rollout_info.DockerSocketError(
                    "cannot reach the Docker engine on /var/run/docker.sock: timed out",
                    None,
                    timed_out=True,
                )
            raise swarm_rollout_info.DockerSocketError(
                "rpc error: code = Unknown desc = The swarm does not have a leader.", self.status
            )
        return super().get(path, params)


@pytest.mark.parametrize("status", [503, None])
def test_first_read_during_a_leader_election_is_tried_again(status: int | None) -> None:
    svc = service(NEW, replicas=2, update_state="completed")
    tasks = [task("b1", 1, "n1", NEW, second=1), task("b2", 2, "n2", NEW, second=2)]
    client = ElectingClient(3, status, Snapshot(svc, tasks, NODES))
    clock = FakeClock()

    results, failure = watch(client, gate_params(settle=0), False, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]

    assert failure is None
    assert results["done"] is True
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_first_read_error_fails_without_wait_or_when_not_5xx() -> None:
    snapshot = Snapshot(service(NEW), [], NODES)
    clock = FakeClock()
    with pytest.raises(swarm_rollout_info.DockerSocketError):
        watch(ElectingClient(1, 503, snapshot), gate_params(wait=False), False, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(swarm_rollout_info.DockerSocketError):
        watch(ElectingClient(1, 400, snapshot), gate_params(), False, clock=clock)  # type: ignore[arg-type]
    assert clock.sleeps == []


def test_first_read_error_gives_up_at_the_timeout() -> None:
    clock = FakeClock()
    client = ElectingClient(1000, 503, Snapshot(service(NEW), [], NODES))
    with pytest.raises(swarm_rollout_info.DockerSocketError, match="still after 60 s"):
        watch(client, gate_params(timeout=0), False, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert sum(clock.sleeps) == 60
