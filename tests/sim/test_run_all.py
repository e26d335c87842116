"""bench/run_all.py: reading each benchmark's final JSON line, medians, and rewriting only generated blocks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", REPO_ROOT / "bench" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_last_json_line_skips_logs_and_broken_lines(run_all) -> None:
    out = 'starting\n{"a": 1}\nprogress 50%\n{"b": 2}\n{not json\n'
    assert run_all.last_json_line(out) == {"b": 2}
    assert run_all.last_json_line("no json here\n[1, 2]\n") is None


def test_medians_of_nested_numbers_text_from_the_last_run(run_all) -> None:
    runs = [{"rate": {"sqlite": 10, "pg": 4.0}, "note": "a", "ok": True, "by": [{"p99": 3}]},
            {"rate": {"sqlite": 30, "pg": 5.0}, "note": "b", "ok": False, "by": [{"p99": 1}]},
            {"rate": {"sqlite": 20, "pg": 9.0}, "note": "c", "ok": True, "by": [{"p99": 2}]}]
    assert run_all.medians(runs) == {"rate.sqlite": 20, "rate.pg": 5.0, "note": "c", "ok": True, "by[0].p99": 2}


def test_generated_blocks_replace_themselves_and_keep_prose(run_all) -> None:
    outcome = run_all.Outcome(run_all.Bench("scale", 1), "python bench/scale.py", [{"p99_ms": 12.5}], [], [3.0])
    text = "# Results\n\n## scale\n\nHand-written analysis stays.\n\n## ingest\n\nOther engineer's prose.\n"
    once = run_all.update_results(text, [outcome], "T1")
    assert "Hand-written analysis stays." in once and "Other engineer's prose." in once
    assert once.index("run_all:begin scale") < once.index("Hand-written analysis")
    assert "| `p99_ms` | 12.5 |" in once and "Machine:" in once
    outcome.results = [{"p99_ms": 7.0}]
    twice = run_all.update_results(once, [outcome], "T2")
    assert "| `p99_ms` | 7 |" in twice and "12.5" not in twice
    assert twice.count("run_all:begin scale") == 1 and twice.count("Hand-written analysis stays.") == 1


def test_a_script_is_run_and_its_failures_recorded(run_all, tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text('import sys\nprint("log")\nprint(\'{"x": %s}\' % sys.argv[1])\n')
    (tmp_path / "bad.py").write_text('raise SystemExit("boom")\n')
    good = run_all.run_bench(run_all.Bench("good", 2, ("5",), tmp_path), 2, 60, [])
    assert good.results == [{"x": 5}, {"x": 5}] and not good.failures
    bad = run_all.run_bench(run_all.Bench("bad", 1, (), tmp_path), 1, 60, [])
    assert not bad.results and "boom" in bad.failures[0]
    assert "failed: run 1" in run_all.render_block(bad, "T")


def test_discovery_keeps_the_known_order_and_adds_other_scripts(run_all, tmp_path: Path) -> None:
    for name in ("scale", "collect", "dashboard", "run_all", "_helpers"):
        (tmp_path / f"{name}.py").write_text("")
    assert [b.name for b in run_all.discover(tmp_path)] == ["collect", "scale", "dashboard"]
