"""The service image: built without a registry, small, non-root, healthy, quick to stop.

Builds the base image (a no-op when present) and the service image through
playbooks/image.yml on the local engine, then runs containers with the port
published on 127.0.0.1 and checks them over HTTP. Every container started here
is removed again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
IMAGE_NAME = "test/accountservice-image"
CONTAINER_PREFIX = "test-image-"
MAX_IMAGE_BYTES = 60 * 1000 * 1000
# Names that must not exist anywhere in the final image.
FORBIDDEN_NAMES = {
    "pip",
    "pip3",
    "apt",
    "apt-get",
    "dpkg",
    "gcc",
    "cc",
    "c++",
    "g++",
    "make",
    "ld",
    "sh",
    "bash",
    "curl",
    "wget",
}


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def ansible_playbook() -> str:
    candidate = Path(sys.executable).with_name("ansible-playbook")
    found = str(candidate) if candidate.exists() else shutil.which("ansible-playbook")
    if not found:
        pytest.fail("ansible-playbook is not installed")
    return found


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Reference (name:tag) of the service image built by playbooks/image.yml."""
    if docker("info", check=False, timeout=30).returncode != 0:
        pytest.fail("the Docker engine does not answer (docker info failed)")
    ref_file = tmp_path_factory.mktemp("image") / "ref"
    result = subprocess.run(
        [
            ansible_playbook(),
            "--inventory",
            "localhost,",
            "--connection",
            "local",
            str(ROOT / "playbooks" / "image.yml"),
            "-e",
            "image_hosts=all",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"accountservice_image_name={IMAGE_NAME}",
            "-e",
            f"image_ref_file={ref_file}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        output = result.stdout[-6000:] + "\n" + result.stderr[-2000:]
        pytest.fail(f"playbooks/image.yml failed:\n{output}")
    return ref_file.read_text().strip()


@pytest.fixture(scope="session")
def image_info(image: str) -> dict:
    return json.loads(docker("image", "inspect", image).stdout)[0]


class Container:
    def __init__(self, image: str) -> None:
        self.name = CONTAINER_PREFIX + uuid.uuid4().hex[:10]
        self.started_at = time.monotonic()
        docker("run", "--detach", "--name", self.name, "--publish", "127.0.0.1::6767", image)
        port = docker("port", self.name, "6767/tcp").stdout.split()[0].rsplit(":", 1)[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def get(self, path: str, timeout: float = 3) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def wait_for_health(self, timeout: float = 20) -> float:
        """Seconds from docker run until GET /health answered 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.get("/health", timeout=1)[0] == 200:
                    return time.monotonic() - self.started_at
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"{self.name}: no 200 on /health within {timeout} s:\n{self.logs()}")

    def inspect(self) -> dict:
        return json.loads(docker("container", "inspect", self.name).stdout)[0]

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        docker("rm", "--force", self.name, check=False)


@pytest.fixture
def container_factory(image: str) -> Iterator:
    started: list[Container] = []

    def start() -> Container:
        container = Container(image)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()


@pytest.fixture(scope="module")
def service(image: str) -> Iterator[Container]:
    container = Container(image)
    try:
        container.wait_for_health()
        yield container
    finally:
        container.remove()


def test_image_is_small(image_info: dict) -> None:
    assert image_info["Size"] <= MAX_IMAGE_BYTES, f"{image_info['Size'] / 1e6:.1f} MB"


def test_image_config(image_info: dict) -> None:
    config = image_info["Config"]
    assert "6767/tcp" in config["ExposedPorts"]
    user = config["User"].split(":")[0]
    assert user not in ("", "0", "root")
    # Exec form: a list whose first element is the interpreter, no shell.
    assert config["Entrypoint"][0].startswith("/")
    assert config["Entrypoint"][1:] == ["-m", "accountservice"]
    test = config["Healthcheck"]["Test"]
    assert test[0] == "CMD"
    assert test[1:] == [config["Entrypoint"][0], "-m", "accountservice.healthcheck"]


def test_image_has_no_build_tools(image: str, tmp_path: Path) -> None:
    name = CONTAINER_PREFIX + uuid.uuid4().hex[:10]
    docker("create", "--name", name, image)
    try:
        archive = tmp_path / "rootfs.tar"
        with archive.open("wb") as out:
            subprocess.run(["docker", "export", name], stdout=out, check=True, timeout=120)
    finally:
        docker("rm", "--force", name, check=False)
    with tarfile.open(archive) as tar:
        paths = [member.name for member in tar.getmembers()]
    assert any(path.endswith("opt/accountservice/accountservice/__main__.py") for path in paths)
    found = sorted(p for p in paths if Path(p).name in FORBIDDEN_NAMES)
    assert found == []
    packaging = sorted(
        p for p in paths if "/pip/" in p or "/setuptools/" in p or "/ensurepip/" in p
    )
    assert packaging == []
    assert not [p for p in paths if p.startswith(("var/lib/apt", "var/lib/dpkg", "usr/include"))]


def test_health_answers_up(service: Container) -> None:
    status, _, body = service.get("/health")
    assert status == 200
    assert json.loads(body) == {"status": "UP"}


def test_first_account(service: Container) -> None:
    status, headers, body = service.get("/accounts/10000")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert body.startswith(b'{"id":"10000","name":"Person_0","servedBy":')
    document = json.loads(body)
    assert document["id"] == "10000"
    assert document["name"] == "Person_0"
    # The container's own address on the bridge network.
    networks = service.inspect()["NetworkSettings"]["Networks"]
    addresses = {net["IPAddress"] for net in networks.values()}
    assert document["servedBy"] in addresses


def test_unknown_account_is_404(service: Container) -> None:
    status, _, body = service.get("/accounts/nope")
    assert status == 404
    assert json.loads(body)


def test_runs_as_non_root(service: Container) -> None:
    result = docker(
        "exec",
        service.name,
        "/usr/local/bin/python",
        "-c",
        "import os; print(os.getuid(), os.getgid())",
    )
    uid, gid = (int(x) for x in result.stdout.split())
    assert uid != 0
    assert gid != 0


def test_becomes_healthy(service: Container) -> None:
    deadline = time.monotonic() + 40
    status = None
    while time.monotonic() < deadline:
        status = service.inspect()["State"]["Health"]["Status"]
        if status in ("healthy", "unhealthy"):
            break
        time.sleep(0.5)
    assert status == "healthy", service.inspect()["State"]["Health"]


def test_stops_after_its_drain_on_sigterm(container_factory) -> None:
    # The image's defaults: a 3 s drain (ACCOUNTSERVICE_DRAIN_SECONDS), then
    # the stop, all within ACCOUNTSERVICE_SHUTDOWN_TIMEOUT (5 s): well before
    # docker's kill at --time.
    container = container_factory()
    container.wait_for_health()
    started = time.monotonic()
    docker("stop", "--time", "10", container.name)
    elapsed = time.monotonic() - started
    state = container.inspect()["State"]
    assert 3 <= elapsed < 6, f"docker stop took {elapsed:.2f} s"
    assert state["ExitCode"] == 0, container.logs()
    assert "Stopping accountservice" in container.logs()
