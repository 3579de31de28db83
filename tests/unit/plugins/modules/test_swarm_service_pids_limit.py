from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.accountservice.swarm.plugins.module_utils.docker_socket import DockerSocket
from ansible_collections.accountservice.swarm.plugins.modules import swarm_service_pids_limit
from ansible_collections.accountservice.swarm.plugins.modules.swarm_service_pids_limit import (
    apply,
    spec_pids_limit,
    with_pids_limit,
)

NAME = "accountservice"

# The shape of GET /services/{id} (API 1.41), trimmed to what the module reads and sends back.


def service(
    pids: int | None = None, state: str | None = "completed", index: int = 42
) -> dict[str, Any]:
    limits: dict[str, Any] = {"MemoryBytes": 268435456}
    if pids is not None:
        limits["Pids"] = pids
    data: dict[str, Any] = {
        "ID": "svc1",
        "Version": {"Index": index},
        "Spec": {
            "Name": NAME,
            "TaskTemplate": {
                "ContainerSpec": {"Image": "accountservice:3f2a9c", "ReadOnly": True},
                "Resources": {"Limits": limits},
                "ForceUpdate": 0,
            },
            "Mode": {"Replicated": {"Replicas": 2}},
        },
    }
    if state is not None:
        data["UpdateStatus"] = {"State": state, "Message": f"update {state}"}
    return data


def params(**changes: Any) -> dict[str, Any]:
    base = {"name": NAME, "pids_limit": 256, "wait": True, "timeout": 60, "poll_interval": 1.0}
    return base | changes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_spec_pids_limit_reads_zero_when_absent() -> None:
    assert spec_pids_limit(service(pids=None)) == 0
    assert spec_pids_limit({"Spec": {"TaskTemplate": {}}}) == 0
    assert spec_pids_limit(service(pids=128)) == 128


def test_with_pids_limit_changes_that_field_only() -> None:
    spec = service()["Spec"]
    new = with_pids_limit(spec, 256)
    assert new["TaskTemplate"]["Resources"]["Limits"] == {"MemoryBytes": 268435456, "Pids": 256}
    del new["TaskTemplate"]["Resources"]["Limits"]["Pids"]
    assert new == spec
    assert "Pids" not in spec["TaskTemplate"]["Resources"]["Limits"]
    bare = with_pids_limit({"Name": NAME, "TaskTemplate": {"Resources": {"Limits": None}}}, 8)
    assert bare["TaskTemplate"]["Resources"]["Limits"] == {"Pids": 8}


def test_sets_a_missing_limit_on_the_read_version(fake_engine) -> None:
    fake_engine.script({"service": service(pids=None, index=42)})
    result = apply(DockerSocket(fake_engine.path), params(), check_mode=False)
    assert result["changed"] is True
    assert (result["pids_limit_before"], result["pids_limit"]) == (0, 256)
    assert len(fake_engine.posts) == 1
    path, query, body = fake_engine.posts[0]
    assert path == "/services/svc1/update"
    assert query == {"version": ["42"]}
    assert body == with_pids_limit(service()["Spec"], 256)


def test_an_equal_limit_changes_nothing(fake_engine) -> None:
    fake_engine.script({"service": service(pids=256)})
    result = apply(DockerSocket(fake_engine.path), params(), check_mode=False)
    assert result["changed"] is False
    assert fake_engine.posts == []


def test_zero_lifts_the_limit(fake_engine) -> None:
    fake_engine.script({"service": service(pids=256)})
    result = apply(DockerSocket(fake_engine.path), params(pids_limit=0), check_mode=False)
    assert result["changed"] is True
    assert fake_engine.posts[0][2]["TaskTemplate"]["Resources"]["Limits"]["Pids"] == 0


def test_waits_for_the_update_in_progress_then_reads_the_spec_again(fake_engine) -> None:
    # The update the module before started, then the swarm completes it
    fake_engine.script(
        {"service": service(pids=None, state="updating", index=50)},
        {"service": service(pids=None, state="updating", index=51)},
        {"service": service(pids=None, state="completed", index=53)},
    )
    clock = FakeClock()
    result = apply(DockerSocket(fake_engine.path), params(), False, clock, clock.sleep)
    assert result["waited"] == 2.0
    assert result["update_state"] == "completed"
    assert fake_engine.posts[0][1] == {"version": ["53"]}


def test_an_update_not_started_yet_counts_as_in_progress(fake_engine) -> None:
    # Right after an update the swarm has reset UpdateStatus and not started yet
    fresh = service(pids=None, state=None, index=60)
    fresh["PreviousSpec"] = with_pids_limit(fresh["Spec"], 256)
    fresh["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] = "accountservice:1b0c77"
    fake_engine.script(
        {"service": fresh},
        {"service": service(pids=None, state="updating", index=61)},
        {"service": service(pids=None, state="completed", index=62)},
    )
    clock = FakeClock()
    result = apply(DockerSocket(fake_engine.path), params(), False, clock, clock.sleep)
    assert result["waited"] == 2.0
    assert fake_engine.posts[0][1] == {"version": ["62"]}


def test_a_change_outside_the_tasks_is_settled_at_once(fake_engine) -> None:
    # A new replica count resets UpdateStatus, and no rolling update follows
    scaled = service(pids=None, state=None, index=70)
    scaled["PreviousSpec"] = dict(scaled["Spec"], Mode={"Replicated": {"Replicas": 1}})
    fake_engine.script({"service": scaled})
    clock = FakeClock()
    result = apply(DockerSocket(fake_engine.path), params(), False, clock, clock.sleep)
    assert result["waited"] == 0.0
    assert fake_engine.posts[0][1] == {"version": ["70"]}


def test_an_election_is_waited_out(fake_engine) -> None:
    fake_engine.script(
        {"error": (503, "The swarm does not have a leader.")},
        {"service": service(pids=None, index=80)},
    )
    clock = FakeClock()
    result = apply(DockerSocket(fake_engine.path), params(), False, clock, clock.sleep)
    assert result["changed"] is True
    assert fake_engine.posts[0][1] == {"version": ["80"]}


def test_after_a_rollback_the_spec_before_keeps_its_limit(fake_engine) -> None:
    # The new spec failed and the swarm went back to the one before, which had the limit
    fake_engine.script(
        {"service": service(pids=None, state="rollback_started")},
        {"service": service(pids=256, state="rollback_completed")},
    )
    clock = FakeClock()
    result = apply(DockerSocket(fake_engine.path), params(), False, clock, clock.sleep)
    assert result["changed"] is False
    assert fake_engine.posts == []


def test_a_paused_update_fails_without_a_change(fake_engine) -> None:
    fake_engine.script({"service": service(pids=None, state="paused")})
    with pytest.raises(LookupError, match="docker service rollback accountservice"):
        apply(DockerSocket(fake_engine.path), params(), check_mode=False)
    assert fake_engine.posts == []


def test_times_out_while_updating(fake_engine) -> None:
    fake_engine.script({"service": service(pids=None, state="updating")})
    clock = FakeClock()
    with pytest.raises(TimeoutError, match="still 'updating' after 5 s"):
        apply(DockerSocket(fake_engine.path), params(timeout=5), False, clock, clock.sleep)
    assert fake_engine.posts == []


def test_without_wait_reads_once(fake_engine) -> None:
    fake_engine.script({"service": service(pids=None, state="updating", index=7)})
    result = apply(DockerSocket(fake_engine.path), params(wait=False), check_mode=False)
    assert result["waited"] == 0.0
    assert fake_engine.posts[0][1] == {"version": ["7"]}


def test_check_mode_predicts_and_sends_nothing(fake_engine) -> None:
    fake_engine.script({"service": service(pids=None, state="updating")})
    result = apply(DockerSocket(fake_engine.path), params(), check_mode=True)
    assert result["changed"] is True
    assert fake_engine.paths("/services/") == ["/services/accountservice"]
    assert fake_engine.posts == []


def test_a_missing_service(fake_engine) -> None:
    fake_engine.script({"service": None})
    client = DockerSocket(fake_engine.path)
    assert apply(client, params(), check_mode=True)["changed"] is True
    assert apply(client, params(pids_limit=0), check_mode=True)["changed"] is False
    with pytest.raises(LookupError, match="does not exist"):
        apply(client, params(), check_mode=False)


def test_an_update_out_of_sequence_reads_again_and_tries_again(fake_engine) -> None:
    fake_engine.script(
        {"service": service(pids=None, index=42)}, {"service": service(pids=None, index=43)}
    )
    fake_engine.post_answers = [(500, {"message": "rpc error: update out of sequence"})]
    result = apply(DockerSocket(fake_engine.path), params(), check_mode=False)
    assert result["changed"] is True
    assert [post[1] for post in fake_engine.posts] == [{"version": ["42"]}, {"version": ["43"]}]


def test_an_update_out_of_sequence_that_found_the_limit_set_stops(fake_engine) -> None:
    fake_engine.script({"service": service(pids=None)}, {"service": service(pids=256)})
    fake_engine.post_answers = [(500, {"message": "update out of sequence"})]
    result = apply(DockerSocket(fake_engine.path), params(), check_mode=False)
    assert result["changed"] is True
    assert len(fake_engine.posts) == 1


def test_module_reports_the_engine_error(fake_engine, run_module) -> None:
    fake_engine.script({"service": service(pids=None)})
    fake_engine.post_answer = (400, {"message": "update out of sequence"})
    code, result = run_module(
        swarm_service_pids_limit.main,
        {"name": NAME, "pids_limit": 256, "docker_socket": fake_engine.path},
    )
    assert code == 1
    assert (
        result["msg"]
        == "setting the PIDs limit of the service accountservice: update out of sequence"
    )
    assert len(fake_engine.posts) == 3


def test_module_diff_and_bad_input(fake_engine, run_module) -> None:
    fake_engine.script({"service": service(pids=100)})
    code, result = run_module(
        swarm_service_pids_limit.main,
        {"name": NAME, "pids_limit": 256, "docker_socket": fake_engine.path, "_ansible_diff": True},
    )
    assert code == 0
    assert result["changed"] is True
    assert result["diff"] == {"before": "pids_limit: 100\n", "after": "pids_limit: 256\n"}
    code, result = run_module(swarm_service_pids_limit.main, {"name": NAME, "pids_limit": -1})
    assert code == 1
    assert "pids_limit must be 0 (no limit) or more, got -1" in result["msg"]
