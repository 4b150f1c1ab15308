"""The benchmark's own judgements: when warming counts as complete, what bound a load run, which figures
miss their targets, and that a first pass asks about each person once."""

from __future__ import annotations

from typing import Any

from bench.cpu import RunCpu
from bench.http_figures import warm_all_outcome
from bench.http_load import first_pass_paths, wrk_script
from bench.report import targets

META: dict[str, Any] = {
    "kept_years": [2022, 2023, 2024, 2025],
    "actors": [
        {"kind": "principal", "person_id": "P-1", "org_id": "S-1", "school_id": "S-1"},
        {"kind": "principal", "person_id": "P-2", "org_id": "S-2", "school_id": "S-2"},
        {"kind": "superintendent", "person_id": "P-3", "org_id": "D-1", "school_id": None},
        {"kind": "staff", "person_id": "P-1", "org_id": "S-1", "school_id": "S-1"},  # P-1 sampled twice
    ],
}


def test_warming_that_loaded_every_stream_is_complete() -> None:
    assert warm_all_outcome({"done": True, "loaded": 120, "of": 120, "full": False, "error": None}) == "complete"


def test_warming_still_running_has_no_outcome_yet() -> None:
    assert warm_all_outcome({"done": False, "loaded": 40, "of": 120, "full": False, "error": None}) is None


def test_warming_stopped_at_the_cache_limit_is_not_complete_and_says_how_far_it_got() -> None:
    outcome = warm_all_outcome({"done": True, "loaded": 90, "of": 120, "full": True, "error": None})
    assert outcome is not None
    assert outcome != "complete"
    assert "cache limit" in outcome
    assert "90 of 120" in outcome


def test_warming_stopped_by_an_error_or_short_of_the_list_is_not_complete() -> None:
    assert warm_all_outcome({"done": True, "loaded": 5, "of": 120, "full": False, "error": "OperationalError"}) == (
        "stopped by OperationalError after 5 of 120 streams"
    )
    assert warm_all_outcome({"done": True, "loaded": 119, "of": 120, "full": False, "error": None}) != "complete"
    assert warm_all_outcome(None) != "complete"


def test_a_run_where_the_server_was_busy_is_bound_by_the_server() -> None:
    assert RunCpu(10, server=0.95, generator=0.6, machine=1.9).limited_by(workers=1, cores=2) == "server"


def test_two_workers_short_of_two_cores_on_a_full_machine_are_bound_by_the_generator() -> None:
    run = RunCpu(10, server=1.3, generator=0.6, machine=1.98)
    assert run.limited_by(workers=2, cores=2) == "generator"
    assert run.details(workers=2, cores=2)["generator_cores"] == 0.6


def test_a_full_machine_mostly_used_by_others_is_bound_by_other_tenants() -> None:
    assert RunCpu(10, server=0.5, generator=0.2, machine=1.95).limited_by(workers=1, cores=2) == "other tenants"


def test_a_run_with_free_cores_and_an_idle_server_is_bound_by_neither() -> None:
    assert RunCpu(10, server=0.4, generator=0.2, machine=0.8).limited_by(workers=1, cores=2).startswith("neither")


def test_a_figure_measured_as_never_reached_misses_its_target_and_an_unmeasured_one_is_unknown() -> None:
    stores = {"sqlite": {"warm_all_s": None, "http_first_pass_ratio": 0.6, "cold_check_p99_ms": None}}
    marks = targets(stores, {"sqlite": ["warm_all_s"]})["sqlite"]
    assert marks["warm_all_s"]["pass"] is False
    assert marks["cold_check_p99_ms"]["pass"] is None
    assert marks["http_first_pass_ratio"] == {"target": ">= 0.5", "value": 0.6, "pass": True}


def test_the_first_pass_asks_about_each_sampled_person_once() -> None:
    paths = first_pass_paths(META, seed=1)
    people = [p.split("person_id=")[1].split("&")[0] for p in paths]
    assert sorted(people) == ["P-1", "P-2", "P-3"]
    assert all(p.startswith("/v1/check?") for p in paths)


def test_distinct_paths_interleave_wrk_threads_and_repeated_ones_give_each_thread_its_own_stretch() -> None:
    assert "counter * 2 + offset" in wrk_script(["/a"], distinct=True)
    assert 'thread:set("offset", threads * 1)' in wrk_script(["/a"], distinct=True)
    assert "counter * 1 + offset" in wrk_script(["/a"], distinct=False)
