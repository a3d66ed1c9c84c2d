"""A result directory whose agents ran different (task, seed) sets (partly finished, or resumed with fewer seeds):
the report says so, and the metrics that set agents against each other use only the pairs all agents share."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from agents.random_search import RandomSearch
from hpo_gym.benchmark import ResultStore, run_benchmark
from hpo_gym.cli import main

BUDGET = 20


def bench(out, agents: str, tasks: str, seeds: int) -> None:
    assert main(["bench", "--agents", agents, "--tasks", tasks, "--budget", str(BUDGET), "--seeds", str(seeds),
                 "--out", str(out), "--no-report"]) == 0


def expected_ranks(out) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """By hand from the stored runs: per agent and task the mean rank over the seeds both agents ran, and BtR."""
    df = ResultStore(out).load()
    final = df[df["step"] == BUDGET].pivot_table(index=["task", "seed"], columns="agent", values="normalized_regret")
    both = final.dropna()  # the (task, seed) pairs both agents ran
    rank_r = both.apply(lambda row: 1.0 if row["random"] < row["tpe"] else 2.0 if row["random"] > row["tpe"] else 1.5,
                        axis=1)
    ranks = pd.DataFrame({"random": rank_r, "tpe": 3.0 - rank_r}).groupby("task").mean()
    means = both.groupby("task").mean()
    btr = {"random": 0.0, "tpe": float((means["tpe"] < means["random"]).mean())}
    return ranks.to_dict(), btr


def test_report_of_agents_with_different_tasks_and_seeds_warns_and_ranks_on_shared_runs(tmp_path, capsys):
    out = tmp_path / "bench"
    bench(out, "random", "credit_g,car,kc1", 3)  # random: 3 tasks x seeds 0-2
    bench(out, "random,tpe", "credit_g,car", 2)  # resumed with fewer tasks and seeds: tpe on 2 tasks x seeds 0-1
    capsys.readouterr()
    ranks, btr = expected_ranks(out)

    assert main(["report", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    first = text.splitlines()[0]
    assert first.startswith("WARNING: the agents finished runs on different (task, seed) sets")
    assert "random: 9 runs on all 3 tasks, seeds 0-2; tpe: 4 runs on 2 of 3 tasks (car, credit_g), seeds 0-1" in first
    assert "BtR, MnR and the per-task ranks are computed only on the 4 (task, seed) pairs all agents share" in first

    assert main(["report", str(out), "--no-plots", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cov = report["coverage"]
    assert cov["agents"] == {"random": {"runs": 9, "tasks": ["car", "credit_g", "kc1"], "seeds": [0, 1, 2]},
                             "tpe": {"runs": 4, "tasks": ["car", "credit_g"], "seeds": [0, 1]}}
    assert cov["shared"] == {"runs": 4, "tasks": ["car", "credit_g"], "seeds": [0, 1]} and cov["note"] == first
    agents, tasks = report["agents"], report["tasks"]
    for agent in ("random", "tpe"):  # MnR and BtR over the shared runs only: kc1 and seed 2 would rank random alone
        assert agents[agent]["MnR"] == pytest.approx(sum(ranks[agent].values()) / 2)
        assert agents[agent]["BtR"] == pytest.approx(btr[agent])
        for task in ("car", "credit_g"):
            assert tasks[agent][task]["rank"] == pytest.approx(ranks[agent][task])
    assert agents["random"]["MnR"] + agents["tpe"]["MnR"] == pytest.approx(3.0)  # ranks 1 and 2 on every shared pair
    assert tasks["random"]["kc1"]["rank"] is None  # no pair there that tpe ran
    # per-agent numbers keep covering the agent's own runs
    assert agents["random"]["runs"] == 9 and tasks["random"]["credit_g"]["seeds"] == 3


def test_equal_coverage_reports_without_a_coverage_note(tmp_path, capsys):
    out = tmp_path / "bench"
    bench(out, "random,tpe", "credit_g,car", 2)
    capsys.readouterr()
    assert main(["report", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Normalized regret mean ± std over runs") and "WARNING" not in text
    assert main(["report", str(out), "--no-plots", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["budget", "definitions", "agents", "tasks", "setup"]  # no coverage entry
    ranks, btr = expected_ranks(out)
    assert report["agents"]["tpe"]["MnR"] == pytest.approx(sum(ranks["tpe"].values()) / 2)


class RandomFailingOnSeed0(RandomSearch):
    """Draws exactly what ``random`` draws (same seed, same generator), but raises at its third step on seed 0."""

    def reset(self, space, seed=None, budget=None):
        super().reset(space, seed, budget)
        self._seed, self._steps = seed, 0

    def act(self, observation):
        self._steps += 1
        if self._seed == 0 and self._steps == 3:
            raise RuntimeError("planted failure")
        return super().act(observation)


def test_a_failed_run_is_no_run_for_the_metrics_that_set_agents_against_each_other(tmp_path, capsys):
    """Found in review: a failed run counted as coverage, so an agent identical to Random that failed on seed 0 was
    reported to beat Random on every task (BtR 1.00: its seed-1 mean against Random's mean over both seeds), and on
    seed 0 Random was ranked alone (MnR 1.25), with no coverage warning."""
    out = tmp_path / "bench"
    run_benchmark({"random": RandomSearch, "clone": RandomFailingOnSeed0}, ["credit_g", "kc1"], budget=BUDGET,
                  seeds=2, out=out, progress=False)
    df = ResultStore(out).load()
    final = df[(df["step"] == BUDGET) & (df["status"] == "ok")]
    assert (final[final["agent"] == "clone"].set_index(["task", "seed"])["normalized_regret"]
            == final[(final["agent"] == "random") & (final["seed"] == 1)].set_index(["task", "seed"])["normalized_regret"]).all()
    assert main(["report", str(out), "--no-plots", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    agents, cov = report["agents"], report["coverage"]
    assert agents["clone"]["failed"] == 2 and agents["clone"]["runs"] == 2
    assert agents["clone"]["BtR"] == 0.0  # ties with Random on every shared pair: beats it nowhere
    assert agents["clone"]["MnR"] == agents["random"]["MnR"] == 1.5  # tied on every pair both finished
    assert cov["shared"] == {"runs": 2, "tasks": ["credit_g", "kc1"], "seeds": [1]}
    assert cov["agents"]["clone"] == {"runs": 2, "tasks": ["credit_g", "kc1"], "seeds": [1]}
    assert cov["note"].startswith("WARNING: the agents finished runs on different (task, seed) sets (failed runs")
    assert "`--retry-failed` reruns failed ones" in cov["note"]
    # regret keeps covering each agent's own finished runs
    assert agents["random"]["runs"] == 4


def test_an_agent_that_finished_no_run_is_named_in_the_coverage_note(tmp_path, capsys):
    """Found in review: the note read '... not over the same runs. . Regret ...' with no word on the agent."""
    out = tmp_path / "bench"
    run_benchmark({"clone": RandomFailingOnSeed0, "random": RandomSearch}, ["credit_g"], budget=BUDGET, seeds=1,
                  out=out, progress=False)
    assert main(["report", str(out), "--no-plots"]) == 0  # a report of failed runs is a report (bench exits 1)
    first = capsys.readouterr().out.splitlines()[0]
    assert "not over the same runs. clone: no finished run; random: 1 run on all 1 tasks, seed 0. Regret" in first


def test_agents_that_failed_on_the_same_pair_have_equal_coverage(tmp_path, capsys):
    """Both agents finished the same (task, seed) pairs: no coverage warning (the failed-runs note says the rest)."""
    class AlsoFailingOnSeed0(RandomFailingOnSeed0):
        pass

    out = tmp_path / "bench"
    run_benchmark({"a": RandomFailingOnSeed0, "b": AlsoFailingOnSeed0}, ["credit_g"], budget=BUDGET, seeds=2, out=out,
                  progress=False)
    assert main(["report", str(out), "--no-plots", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "coverage" not in report and report["agents"]["a"]["failed"] == report["agents"]["b"]["failed"] == 1


def test_an_agent_without_a_finished_run_is_not_counted_among_those_sharing_the_pairs():
    """"boom: no finished run" stood next to "computed only on the pairs all agents share", which boom shares none of."""
    from agents.random_search import RandomSearch
    from hpo_gym.benchmark import run_benchmark
    from hpo_gym.benchmark.report import coverage_note
    from tests.benchmark.test_runner import FailingAgent

    df = run_benchmark({"boom": FailingAgent, "random": RandomSearch}, ["car"], budget=3, seeds=2, progress=False)
    note = coverage_note(df)
    assert "boom: no finished run" in note and "all agents share" not in note
    assert "computed only on the 2 (task, seed) pairs the agents with a finished run (1) share" in note
