#!/usr/bin/python
# Ansible wants the imports below DOCUMENTATION, EXAMPLES and RETURN.
# ruff: noqa: E402

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_service_pids_limit
short_description: Set the PIDs limit of a swarm service's tasks
version_added: 2.0.0
description:
  - Sets C(TaskTemplate.Resources.Limits.Pids) of a Docker Swarm service, the most processes and
    threads each of its containers may run at once (CIS Docker Benchmark 5.29), and changes nothing
    else in the service's spec. It is what C(docker service update --limit-pids) does.
  - C(community.docker.docker_swarm_service) has no option for this limit, and an update through it
    sends a spec without it, which drops it. Run this module after that one.
  - A changed limit is a new spec, so the swarm rolls it out like any update, with the service's
    C(UpdateConfig).
  - A failed update rolls back to the spec before it. So with O(wait=true), while an update of the
    service is in progress (the one the task before has just started), the module waits until the
    swarm ends it, then reads the spec again; the limit is set on the spec that the swarm settled
    on, and the spec before the limit's update is the one that served.
author:
  - accountservice maintainers (!UNKNOWN)
options:
  pids_limit:
    description:
      - The most processes and threads a task's container may run at once. V(0) means no limit.
    type: int
    required: true
  wait:
    description:
      - Wait until an update of the service in progress ends before the limit is compared and set -
        while C(UpdateStatus.State) is C(updating) or C(rollback_started), or while it is not set
        yet and the spec's C(TaskTemplate) differs from C(PreviousSpec)'s (the swarm resets the
        status on an update and sets it when it starts rolling the update out).
      - The module fails, and changes nothing, when the limit differs and the swarm paused the
        service's update (C(paused), C(rollback_paused)).
      - Meanwhile a read answered 5xx, or not in time (a manager while the swarm elects a leader),
        is tried again.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait with O(wait=true) before the module fails.
    type: int
    default: 600
  poll_interval:
    description:
      - Seconds between two reads while it waits.
    type: float
    default: 1.0
extends_documentation_fragment:
  - accountservice.swarm.swarm_service
  - accountservice.swarm.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the module reads once and does not wait. A service that does not exist
      reports RV(changed) when O(pids_limit) is not V(0) (the task before would have created it).
  diff_mode:
    support: full
notes:
  - The calls are C(GET /services/NAME) and C(POST /services/ID/update?version=N) with the spec
    read, the same way the Docker CLI updates a service. An update that raced another change of
    the service (the engine answers "update out of sequence") reads the service again and is
    tried again, 3 times at most; then the module fails with the engine's message.
requirements:
  - Docker API >= 1.41 (Engine 20.10) on a swarm manager.
"""

EXAMPLES = r"""
---
- name: Deploy the service
  community.docker.docker_swarm_service:
    name: accountservice
    image: accountservice:3f2a9c
    replicas: 2

- name: Limit each task to 256 processes and threads
  accountservice.swarm.swarm_service_pids_limit:
    name: accountservice
    pids_limit: 256
"""

RETURN = r"""
pids_limit_before:
  description: The limit the service's spec had before the module ran, V(0) for none.
  returned: when the service exists
  type: int
  sample: 0
pids_limit:
  description: The limit the service's spec has now (in check mode, would have).
  returned: always
  type: int
  sample: 256
update_state:
  description: C(UpdateStatus.State) of the service when the module compared the limit, V('') when
    the service was never updated.
  returned: when the service exists
  type: str
  sample: completed
waited:
  description: Seconds the module waited for an update in progress to end.
  returned: always
  type: float
  sample: 12.4
"""

import copy
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.accountservice.swarm.plugins.module_utils.docker_socket import (
    DockerSocket,
    DockerSocketError,
    dig,
)

UPDATE_IN_PROGRESS = ("updating", "rollback_started")
# The swarm stopped the update half-way: a new update would start from there
UPDATE_PAUSED = ("paused", "rollback_paused")
# Tries of the update when another change of the service raced it
UPDATE_ATTEMPTS = 3


def spec_pids_limit(service: dict[str, Any]) -> int:
    """The PIDs limit of a service's spec; 0 when it has none."""
    limits = (service.get("Spec") or {}).get("TaskTemplate", {}).get("Resources", {}).get("Limits")
    return int((limits or {}).get("Pids") or 0)


def update_state(service: dict[str, Any]) -> str:
    return str((service.get("UpdateStatus") or {}).get("State") or "")


def with_pids_limit(spec: dict[str, Any], pids_limit: int) -> dict[str, Any]:
    """A copy of spec with TaskTemplate.Resources.Limits.Pids set, everything else as it was."""
    new = copy.deepcopy(spec)
    resources = new.setdefault("TaskTemplate", {}).setdefault("Resources", {})
    limits = resources.get("Limits") or {}
    limits["Pids"] = pids_limit
    resources["Limits"] = limits
    return new


def update_in_progress(service: dict[str, Any]) -> bool:
    """Whether the swarm is rolling an update of the service's tasks out, or about to.

    An update resets UpdateStatus until the swarm starts to roll it out, so a
    spec whose task template differs from the one before, with no status yet,
    counts as an update in progress.
    """
    state = update_state(service)
    if state:
        return state in UPDATE_IN_PROGRESS
    previous = service.get("PreviousSpec")
    return bool(previous) and previous.get("TaskTemplate") != service["Spec"].get("TaskTemplate")


def wait_until_settled(
    client: DockerSocket,
    name: str,
    timeout: float,
    poll_interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any] | None, float]:
    """Read the service until no update of it is in progress; return it and the seconds waited."""
    start = clock()
    while True:
        try:
            service = client.service(name)
        except DockerSocketError as error:
            # A manager answers 503, or not at all for a while, as the swarm elects a leader
            if not error.unavailable or clock() - start >= timeout:
                raise
            sleep(poll_interval)
            continue
        waited = round(clock() - start, 3)
        if service is None or not update_in_progress(service):
            return service, waited
        if waited >= timeout:
            state = update_state(service) or "pending"
            raise TimeoutError(
                f"the update of the service {name} is still {state!r} after "
                f"{timeout:g} s ({dig(service, 'UpdateStatus', 'Message', default='')}); "
                "see `docker service ps " + name + "`"
            )
        sleep(poll_interval)


def apply(
    client: DockerSocket,
    params: dict[str, Any],
    check_mode: bool,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Compare the limit and set it where it differs; the module's result."""
    name, wanted = params["name"], params["pids_limit"]

    def read() -> tuple[dict[str, Any] | None, float]:
        if check_mode or not params["wait"]:
            return client.service(name), 0.0
        return wait_until_settled(
            client, name, params["timeout"], params["poll_interval"], clock, sleep
        )

    service, waited = read()
    if service is None:
        if not check_mode:
            raise LookupError(
                f"the service {name} does not exist: deploy it before its PIDs limit is set"
            )
        return {"changed": wanted != 0, "pids_limit": wanted, "waited": waited}
    before = spec_pids_limit(service)
    result: dict[str, Any] = {
        "changed": before != wanted,
        "pids_limit_before": before,
        "pids_limit": wanted,
        "update_state": update_state(service),
        "waited": waited,
        "diff": {"before": f"pids_limit: {before}\n", "after": f"pids_limit: {wanted}\n"},
    }
    if before != wanted and result["update_state"] in UPDATE_PAUSED:
        raise LookupError(
            f"the update of the service {name} is {result['update_state']!r} "
            f"({dig(service, 'UpdateStatus', 'Message', default='')}): see `docker service ps "
            f"{name}`, then roll it back (`docker service rollback {name}`) or fix it and run again"
        )
    attempt = 1
    while service is not None and spec_pids_limit(service) != wanted and not check_mode:
        try:
            client.post(
                f"/services/{quote(service['ID'], safe='')}/update",
                with_pids_limit(service["Spec"], wanted),
                {"version": service["Version"]["Index"]},
            )
            break
        except DockerSocketError as error:
            # The service's version moved on since the read (another update,
            # or the swarm recording an update's progress): read it again
            if "update out of sequence" not in error.message or attempt >= UPDATE_ATTEMPTS:
                raise
        attempt += 1
        service, _ = read()
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            pids_limit=dict(type="int", required=True),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=600),
            poll_interval=dict(type="float", default=1.0),
            docker_socket=dict(type="path", default="/var/run/docker.sock"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["pids_limit"] < 0:
        module.fail_json(msg=f"pids_limit must be 0 (no limit) or more, got {params['pids_limit']}")
    if params["timeout"] < 0 or params["poll_interval"] <= 0:
        module.fail_json(
            msg=f"timeout must be 0 or more and poll_interval more than 0, got "
            f"{params['timeout']} and {params['poll_interval']}"
        )
    client = DockerSocket(params["docker_socket"])
    try:
        result = apply(client, params, module.check_mode)
    except DockerSocketError as error:
        module.fail_json(
            msg=f"setting the PIDs limit of the service {params['name']}: {error.message}"
        )
    except (LookupError, TimeoutError) as error:
        module.fail_json(msg=str(error))
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
