"""The cluster bootstrap on votes grouped by cluster gives the counts of weighting each vote."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluations.analysis.clustered import cluster_bootstrap_counts, cluster_cells


def counts_vote_by_vote(rng, rounds, cell_of_vote, n_cells, clusters):
    """The definition: each vote weighs the product of its clusters' draw counts."""
    vote_weight = np.ones((rounds, len(cell_of_vote)))
    for cluster in clusters:
        _, code = np.unique(cluster, return_inverse=True)
        g = int(code.max()) + 1
        vote_weight *= rng.multinomial(g, np.full(g, 1.0 / g), size=rounds)[:, code]
    out = np.zeros((rounds, n_cells))
    for v, cell in enumerate(cell_of_vote):
        out[:, cell] += vote_weight[:, v]
    return out


@settings(max_examples=60, deadline=None)
@given(
    n_votes=st.integers(1, 300),
    n_cells=st.integers(1, 12),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=2),
    seed=st.integers(0, 2**32 - 1),
    rounds=st.integers(1, 7),
)
def test_grouped_counts_equal_vote_by_vote_counts(n_votes, n_cells, sizes, seed, rounds):
    data = np.random.default_rng(seed)
    cell_of_vote = data.integers(0, n_cells, n_votes)
    clusters = [data.integers(0, size, n_votes) * 7 + 3 for size in sizes]
    grouped = cluster_bootstrap_counts(
        np.random.default_rng(seed), rounds, cluster_cells(cell_of_vote, n_cells, clusters)
    )
    expected = counts_vote_by_vote(
        np.random.default_rng(seed), rounds, cell_of_vote, n_cells, clusters
    )
    np.testing.assert_array_equal(grouped, expected)


def test_a_million_votes_in_few_clusters_make_few_groups():
    data = np.random.default_rng(0)
    n = 1_000_000
    cells = cluster_cells(
        data.integers(0, 300, n), 300, [data.integers(0, 40, n), data.integers(0, 80, n)]
    )
    assert cells.to_cell.shape[0] <= 40 * 80
    assert cells.to_cell.sum() == n
