"""Session-wide fixtures: the real Kubernetes test control plane, with KWOK nodes only or with a real
kubelet node (see tests/cluster/README.md)."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster.harness import Cluster, ClusterError

_ns_counter = itertools.count()


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """One control plane for the whole test run, deleted at the end.

    When a test fails (or the start does), the component logs are printed and kept
    under artifacts/cluster-logs so the failure can be read after the run.
    """
    workdir = Path(tempfile.mkdtemp(prefix="todo-chatbot-kwok-"))
    try:
        created = Cluster.create(workdir)
    except (ClusterError, TimeoutError) as exc:
        _report(request, Cluster(workdir, "test", workdir), f"the test control plane did not start: {exc}")
        raise
    try:
        yield created
    finally:
        if request.session.testsfailed:
            _report(request, created, f"{request.session.testsfailed} test(s) failed")
        if os.environ.get("KEEP_TEST_CLUSTER"):
            print(f"\nKEEP_TEST_CLUSTER set: cluster left running, KUBECONFIG={created.kubeconfig}", file=sys.stderr)
        else:
            created.delete()
            shutil.rmtree(workdir, ignore_errors=True)


def _report(request: pytest.FixtureRequest, cluster: Cluster, why: str, name: str = "components") -> None:
    logs = cluster.component_logs()
    artifacts = Path(__file__).resolve().parents[1] / "artifacts" / "cluster-logs"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / f"{name}.log").write_text(logs)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    text = f"\n{why}; control-plane component logs (also in {artifacts}):\n{logs}\n"
    if reporter:
        reporter.write_line(text)
    else:
        print(text, file=sys.stderr)


@pytest.fixture(scope="session")
def real_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A second control plane whose workloads run as real containers on a real kubelet node (its KWOK
    nodes are tainted), started on first use and torn down at the end, restoring the machine."""
    workdir = Path(tempfile.mkdtemp(prefix="todo-chatbot-real-"))
    try:
        created = Cluster.create(workdir, name="real", real_node=True, timeout=240)
    except (ClusterError, TimeoutError) as exc:
        _report(request, Cluster(workdir, "real", workdir, real_node=True), f"the real-node cluster did not start: {exc}")
        raise
    try:
        yield created
    finally:
        if request.session.testsfailed:
            _report(request, created, f"{request.session.testsfailed} test(s) failed", name="real-node")
        if os.environ.get("KEEP_TEST_CLUSTER"):
            print(f"\nKEEP_TEST_CLUSTER set: real-node cluster left running, KUBECONFIG={created.kubeconfig}", file=sys.stderr)
        else:
            created.delete()
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def app_images(real_cluster: Cluster) -> dict[str, str]:
    """The project's images (built by scripts/images.sh), loaded into the real node."""
    from cluster import deploy

    refs = deploy.built_images()
    deploy.load_images(real_cluster, refs)
    return refs


@pytest.fixture
def real_namespace(real_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace on the real-node cluster."""
    yield from _fresh_namespace(real_cluster, request)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, ready for pods (its default ServiceAccount exists)."""
    yield from _fresh_namespace(cluster, request)


def _fresh_namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t{next(_ns_counter)}-{base}"
    yield cluster.fresh_namespace(name)
    cluster.api.delete_namespace(name)


@pytest.fixture
def disposable_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A control plane of the test's own, for tests that break it (stop/start): the shared one stays healthy."""
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    created = Cluster.create(workdir, name="disposable")
    try:
        yield created
    finally:
        created.delete()


# -- two lanes (issue 25): `make test` runs pytest-xdist workers (-n 2 --dist loadgroup) ------------------------------
# There is one real kubelet node per machine, so every test on it runs in one worker: its lane is the longest, so it
# is collected first and starts at once. The other tests run by module (a module's fixtures are set up once) in the
# other worker, each worker with a KWOK control plane of its own.
@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_node = {item.nodeid for item in items if "real_cluster" in getattr(item, "fixturenames", ())}
    for item in items:
        item.add_marker(pytest.mark.xdist_group("real-node" if item.nodeid in on_node else item.nodeid.split("::")[0]))
    items.sort(key=lambda item: item.nodeid not in on_node)  # stable: the order within each lane is kept


# -- the suite's time by part (issue 25): where `make test`'s minutes go, printed at the end -----------------------
_part_seconds: dict[str, float] = {}
_file_seconds: dict[str, float] = {}
_lane_seconds: dict[str, float] = {}
_started: list[float] = []
_cpu_started: list[tuple[int, int]] = []


def _cpu_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the machine so far (/proc/stat), to tell a run waiting from a run short of CPU."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Setup, call and teardown of every test, summed per test directory (a session fixture's start counts where
    it is first used)."""
    parts = Path(report.fspath).parts
    part = parts[parts.index("tests") + 1] if "tests" in parts and parts[-1] != parts[parts.index("tests") + 1] else "tests"
    _part_seconds[part] = _part_seconds.get(part, 0.0) + report.duration
    _file_seconds[report.fspath] = _file_seconds.get(report.fspath, 0.0) + report.duration
    lane = getattr(getattr(report, "node", None), "gateway", None)  # the xdist worker that ran it
    _lane_seconds[lane.id if lane else "main"] = _lane_seconds.get(lane.id if lane else "main", 0.0) + report.duration


def pytest_sessionstart(session: pytest.Session) -> None:
    _part_seconds.clear()
    _started.append(time.monotonic())
    _cpu_started.append(_cpu_ticks())


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _part_seconds:
        return
    terminalreporter.section("time by part")
    for part, seconds in sorted(_part_seconds.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{part:<14} {seconds / 60:6.1f} min")
    terminalreporter.write_line(f"{'all parts':<14} {sum(_part_seconds.values()) / 60:6.1f} min (the lanes run them side by side)")
    terminalreporter.write_line(f"{'wall':<14} {(time.monotonic() - _started[-1]) / 60:6.1f} min")
    if len(_lane_seconds) > 1:
        terminalreporter.write_line("lanes: " + ", ".join(f"{lane} {seconds / 60:.1f} min" for lane, seconds in sorted(_lane_seconds.items())))
    (busy0, all0), (busy1, all1) = _cpu_started[-1], _cpu_ticks()
    if all1 > all0:
        terminalreporter.write_line(f"CPU busy {100 * (busy1 - busy0) / (all1 - all0):.0f}% of {os.cpu_count()} cores over the run")
    terminalreporter.write_line(
        "slowest files: " + ", ".join(f"{Path(f).name} {s / 60:.1f}" for f, s in sorted(_file_seconds.items(), key=lambda kv: -kv[1])[:15])
    )
