import csv
import json
from pathlib import Path

import choix
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluations.analysis import (
    ELO_SCALE,
    bootstrap_bradley_terry,
    fit_bradley_terry,
    fit_bradley_terry_covariates,
)


def _wins_to_cells(winners: np.ndarray, losers: np.ndarray) -> tuple[np.ndarray, ...]:
    return winners, losers, np.ones(len(winners)), np.ones(len(winners))


def _baseball(refdata: Path) -> tuple[list[str], np.ndarray, ...]:
    rows = list(csv.DictReader((refdata / "bt_baseball_agresti" / "baseball.csv").open()))
    teams = sorted({r["home.team"] for r in rows})
    code = {t: i for i, t in enumerate(teams)}
    home = np.array([code[r["home.team"]] for r in rows])
    away = np.array([code[r["away.team"]] for r in rows])
    home_wins = np.array([float(r["home.wins"]) for r in rows])
    away_wins = np.array([float(r["away.wins"]) for r in rows])
    a, b = np.r_[home, home], np.r_[away, away]
    y = np.r_[np.ones(len(rows)), np.zeros(len(rows))]
    return teams, a, b, y, np.r_[home_wins, away_wins]


@pytest.mark.refdata
def test_baseball_abilities_match_agresti_table_10_11(refdata: Path) -> None:
    expected = json.loads((refdata / "bt_baseball_agresti" / "expected.json").read_text())
    teams, a, b, y, n = _baseball(refdata)
    fit = fit_bradley_terry(a, b, y, n, len(teams))
    base = teams.index("Baltimore")
    log_ability = fit.theta - fit.theta[base]
    published = dict(
        zip(
            expected["model1_team_order_of_sorted_values"],
            expected["published_model1_log_abilities_sorted"],
            strict=True,
        )
    )
    for team, value in published.items():
        assert log_ability[teams.index(team)] == pytest.approx(value, abs=0.005)
    for team, value in expected["our_recomputation"]["model1"].items():
        assert log_ability[teams.index(team)] == pytest.approx(value, abs=5e-5)
    cov = fit.fisher_cov
    for team, value in expected["our_recomputation"]["model1_se"].items():
        t = teams.index(team)
        se = np.sqrt(cov[t, t] + cov[base, base] - 2 * cov[t, base])
        assert se == pytest.approx(value, abs=5e-5)
        assert round(se, 1) == 0.3


@pytest.mark.refdata
def test_baseball_home_advantage_matches_agresti(refdata: Path) -> None:
    expected = json.loads((refdata / "bt_baseball_agresti" / "expected.json").read_text())
    teams, a, b, y, n = _baseball(refdata)
    fit = fit_bradley_terry_covariates(a, b, y, n, np.ones(len(a)), len(teams))
    ability = np.exp(fit.theta) / np.exp(fit.theta).sum()
    for team, value in zip(
        expected["model2_team_order"], expected["published_model2_abilities_sorted"], strict=True
    ):
        assert ability[teams.index(team)] == pytest.approx(value, abs=0.0005)
    assert fit.beta[0] == pytest.approx(expected["published_home_advantage"], abs=0.0005)
    assert np.sqrt(fit.fisher_cov[-1, -1]) == pytest.approx(
        expected["our_recomputation"]["model2_home_se"], abs=5e-5
    )


@pytest.mark.refdata
def test_citations_coefficients_match_stigler_via_agresti(refdata: Path) -> None:
    expected = json.loads((refdata / "bt_citations_agresti" / "expected.json").read_text())
    rows = list(csv.DictReader((refdata / "bt_citations_agresti" / "citations_pairs.csv").open()))
    journals = sorted({r["journal1"] for r in rows} | {r["journal2"] for r in rows})
    j1 = np.array([journals.index(r["journal1"]) for r in rows])
    j2 = np.array([journals.index(r["journal2"]) for r in rows])
    w1 = np.array([float(r["win1"]) for r in rows])
    w2 = np.array([float(r["win2"]) for r in rows])
    fit = fit_bradley_terry(
        np.r_[j1, j1], np.r_[j2, j2], np.r_[np.ones(6), np.zeros(6)], np.r_[w1, w2], len(journals)
    )
    base = journals.index("Biometrika")
    for journal, value in expected["published_coefficients"].items():
        assert fit.theta[journals.index(journal)] - fit.theta[base] == pytest.approx(
            value, abs=5e-5
        )
    cov = fit.fisher_cov
    for journal, value in expected["our_recomputation_se"].items():
        t = journals.index(journal)
        assert np.sqrt(cov[t, t] + cov[base, base] - 2 * cov[t, base]) == pytest.approx(
            value, abs=5e-5
        )
    # Residual deviance of the saturated binomial model over the six pairs.
    p = 1 / (1 + np.exp(-(fit.theta[j1] - fit.theta[j2])))
    fitted1, fitted2 = (w1 + w2) * p, (w1 + w2) * (1 - p)
    deviance = 2 * np.sum(w1 * np.log(w1 / fitted1) + w2 * np.log(w2 / fitted2))
    assert deviance == pytest.approx(expected["published_residual_deviance"], abs=5e-4)


@pytest.mark.refdata
@pytest.mark.parametrize("name", ["testcase-pairwise-1.json", "testcase-pairwise-2.json"])
def test_choix_ml_fixtures_are_reproduced(refdata: Path, name: str) -> None:
    case = json.loads((refdata / "choix_fixtures" / name).read_text())
    data = np.array(case["data"])
    fit = fit_bradley_terry(*_wins_to_cells(data[:, 0], data[:, 1]), case["n_items"])
    np.testing.assert_allclose(fit.theta, case["ml_est"], atol=1e-6)


@pytest.mark.refdata
def test_choix_map_fixture_is_reproduced(refdata: Path) -> None:
    case = json.loads((refdata / "choix_fixtures" / "opt_pairwise_8random.json").read_text())
    data = np.array(case["data"])
    # choix minimises alpha * |theta|^2 + NLL, i.e. a Gaussian prior of precision 2 * alpha.
    fit = fit_bradley_terry(
        *_wins_to_cells(data[:, 0], data[:, 1]), case["n_items"], prior_precision=2 * case["alpha"]
    )
    np.testing.assert_allclose(fit.theta, case["map_est"], atol=1e-6)


def test_random_data_gives_the_same_ml_estimate_as_choix() -> None:
    rng = np.random.default_rng(7)
    true = rng.normal(0, 1, 12)
    a = rng.integers(0, 12, 3000)
    b = (a + rng.integers(1, 12, 3000)) % 12
    a_won = rng.random(3000) < 1 / (1 + np.exp(-(true[a] - true[b])))
    winners, losers = np.where(a_won, a, b), np.where(a_won, b, a)
    reference = choix.opt_pairwise(12, list(zip(winners, losers, strict=True)), alpha=0)
    fit = fit_bradley_terry(*_wins_to_cells(winners, losers), 12)
    np.testing.assert_allclose(fit.theta, reference - reference.mean(), atol=1e-5)


def _simulated_cells(
    rng: np.random.Generator, true: np.ndarray, votes_per_pair: int, tie_share: float
) -> tuple[np.ndarray, ...]:
    """Votes on every pair with P(win) + P(tie) / 2 = BT probability, so that `true` is what
    BT with ties as half wins estimates; ties take `tie_share` of the votes between equals."""
    m = len(true)
    lo, hi = np.triu_indices(m, k=1)
    p = 1 / (1 + np.exp(-(true[lo] - true[hi])))
    tie = 4 * tie_share * p * (1 - p)
    probs = np.stack([p - tie / 2, 1 - p - tie / 2, tie], axis=1)
    counts = np.array([rng.multinomial(votes_per_pair, row) for row in probs])
    return (
        np.repeat(lo, 3),
        np.repeat(hi, 3),
        np.tile([1.0, 0.0, 0.5], len(lo)),
        counts.ravel().astype(float),
    )


def test_sandwich_intervals_match_the_bootstrap_spread_and_fisher_is_too_wide_with_ties() -> None:
    rng = np.random.default_rng(3)
    true = rng.normal(0, 0.5, 10)
    cells = _simulated_cells(rng, true, 400, 0.3)
    fit = fit_bradley_terry(*cells, 10)
    boot = bootstrap_bradley_terry(*cells, 10, 2000, seed=1, fit=fit)
    sandwich = np.sqrt(np.diag(fit.cov))
    fisher = np.sqrt(np.diag(fit.fisher_cov))
    spread = boot.theta.std(axis=0, ddof=1)
    np.testing.assert_allclose(sandwich, spread, rtol=0.06)
    assert np.all(fisher / sandwich > 1.08)


def test_bootstrap_depends_on_the_seed_only() -> None:
    rng = np.random.default_rng(5)
    cells = _simulated_cells(rng, rng.normal(0, 1, 6), 50, 0.2)
    one = bootstrap_bradley_terry(*cells, 6, 250, seed=11, workers=1).theta
    two = bootstrap_bradley_terry(*cells, 6, 250, seed=11, workers=2).theta
    other = bootstrap_bradley_terry(*cells, 6, 250, seed=12, workers=2).theta
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, other)


def test_batched_bootstrap_refits_equal_one_by_one_refits() -> None:
    rng = np.random.default_rng(9)
    a, b, y, n = _simulated_cells(rng, rng.normal(0, 1, 7), 30, 0.2)
    boot = bootstrap_bradley_terry(a, b, y, n, 7, 40, seed=4, block=40).theta
    rng_block = np.random.default_rng(np.random.SeedSequence(4).spawn(1)[0])
    draws = rng_block.multinomial(int(n.sum()), n / n.sum(), 40)
    for r in range(40):
        single = fit_bradley_terry(a, b, y, draws[r].astype(float), 7)
        if single.converged and np.abs(single.theta).max() < 20:
            np.testing.assert_allclose(boot[r], single.theta, atol=1e-7)


def test_bootstrap_intervals_cover_the_true_rating_93_to_97_percent() -> None:
    rng = np.random.default_rng(2024)
    m, studies, covered, total = 6, 150, 0, 0
    for _ in range(studies):
        true = rng.normal(0, 0.6, m)
        true -= true.mean()
        cells = _simulated_cells(rng, true, 60, 0.25)
        boot = bootstrap_bradley_terry(
            *cells, m, 400, seed=int(rng.integers(1 << 30)), workers=1
        ).theta
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        covered += int(((low <= true) & (true <= high)).sum())
        total += m
    assert 0.93 <= covered / total <= 0.97


ratings_strategy = st.lists(st.floats(-2, 2), min_size=3, max_size=6)


@settings(max_examples=25, deadline=None)
@given(true=ratings_strategy, seed=st.integers(0, 2**31 - 1))
def test_relabelling_models_permutes_the_ratings(true: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = len(true)
    a, b, y, n = _simulated_cells(rng, np.array(true), 40, 0.2)
    n = n + 1  # every outcome seen at least once, so the MLE exists
    perm = rng.permutation(m)
    plain = fit_bradley_terry(a, b, y, n, m)
    relabelled = fit_bradley_terry(perm[a], perm[b], y, n, m)
    np.testing.assert_allclose(relabelled.theta[perm], plain.theta, atol=1e-8)
    np.testing.assert_allclose(relabelled.cov[np.ix_(perm, perm)], plain.cov, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(true=ratings_strategy, seed=st.integers(0, 2**31 - 1))
def test_swapping_sides_with_inverted_outcomes_changes_nothing(
    true: list[float], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a, b, y, n = _simulated_cells(rng, np.array(true), 40, 0.2)
    n = n + 1
    flip = rng.random(len(a)) < 0.5
    a2, b2, y2 = np.where(flip, b, a), np.where(flip, a, b), np.where(flip, 1 - y, y)
    one = fit_bradley_terry(a, b, y, n, len(true))
    two = fit_bradley_terry(a2, b2, y2, n, len(true))
    np.testing.assert_allclose(one.theta, two.theta, atol=1e-9)
    np.testing.assert_allclose(one.cov, two.cov, atol=1e-10)


def test_elo_scale_is_400_log10() -> None:
    fit = fit_bradley_terry(np.array([0, 1]), np.array([1, 0]), np.ones(2), np.array([3.0, 1.0]), 2)
    # 3 wins to 1: strength ratio 3, so the ratings differ by 400 log10(3).
    assert fit.ratings[0] - fit.ratings[1] == pytest.approx(400 * np.log10(3))
    assert fit.ratings.mean() == pytest.approx(1000)
    assert np.isclose(ELO_SCALE, 400 / np.log(10))
