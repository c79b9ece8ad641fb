"""The one-command runner: a failing benchmark is said loudly; the report names the machine and commands."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.combined_report import RunManifest, write_report
from benchmarks.run_all import Section, run_section
from tests.benchmarks import synthetic

WRITES_IDLE_REPORT = (
    "import sys, pathlib; from tests.benchmarks import synthetic; "
    "synthetic.write(pathlib.Path(sys.argv[-1]), synthetic.idle_report([0, 1, 50])); "
    "print('## Idle capacity'); print('| the table |')"
)


def fake(name: str, code: str) -> Section:
    return Section(name=name, title=f"Fake {name}", module=["-c", code], quick=["--quick-arg"], full=[])


def test_a_benchmark_that_exits_non_zero_fails(tmp_path: Path) -> None:
    run = run_section(
        fake("broken", "import sys; print('boom', file=sys.stderr); sys.exit(3)"), out=tmp_path, quick=True
    )

    assert not run.ok
    assert run.failure == "exited with 3"
    assert (tmp_path / run.log).read_text() == "boom\n"


def test_a_benchmark_that_writes_no_json_fails(tmp_path: Path) -> None:
    run = run_section(fake("silent", "print('nothing')"), out=tmp_path, quick=True)

    assert not run.ok
    assert run.failure == "wrote no silent.json"


def test_the_report_has_the_machine_each_command_its_table_its_plots_and_the_failures(tmp_path: Path) -> None:
    good = run_section(fake("idle", WRITES_IDLE_REPORT), out=tmp_path, quick=True)
    bad = run_section(fake("broken", "import sys; sys.exit(2)"), out=tmp_path, quick=False)
    assert good.ok, (tmp_path / good.log).read_text()

    path = write_report(
        tmp_path, RunManifest(sections={"idle": good, "broken": bad}), argv=["--quick"], table_from_json=set()
    )

    report = path.read_text()
    assert "> **FAILED: broken (exited with 2).**" in report
    assert "| CPU |" in report
    assert f"{Path(sys.executable).name} -c" in good.command
    assert good.command.endswith("--quick-arg --json " + str(tmp_path / "idle.json"))
    assert "### Idle capacity\n| the table |" in report
    assert "![Device capacity (idle: digital silence)](plots/idle-capacity.png)" in report
    assert (tmp_path / "plots" / "idle-capacity.png").exists()


def test_micro_benchmarks_get_a_table_from_their_json(tmp_path: Path) -> None:
    synthetic.write(tmp_path / "micro.json", synthetic.micro_report())
    code = "import shutil, sys; shutil.copy(sys.argv[-1].replace('micro2', 'micro'), sys.argv[-1])"
    run = run_section(fake("micro2", code), out=tmp_path, quick=True)

    path = write_report(tmp_path, RunManifest(sections={"micro2": run}), argv=[], table_from_json={"micro2"})

    assert "| `test_frame_hop` | 2 | 0.1 | 1.8 | 9 | 1000 |" in path.read_text()
