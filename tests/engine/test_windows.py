"""Windows: bounded memory under traffic, uniform reservoirs, KLL error bound, expiry, exact snapshots."""


import numpy as np
import pytest
from scipy import stats

from otel_ml.processor.quality import CHECKS
from otel_ml.processor.windows import CountWindow, Reservoir, TimeWindow, merge_reservoirs
from tests.support.checkpoints import through_checkpoint

F = ("feature", "x")
C = ("feature", "color")


def _feed_time_window(window, t0, seconds, per_second, rng, data_rng):
    """Feed ``per_second`` events a second for ``seconds`` seconds, in one batch a second."""
    for s in range(seconds):
        x = data_rng.normal(size=per_second)
        keys = data_rng.choice(["a", "b", "c"], size=per_second).astype(object)
        window.append(t0 + s, per_second, {F: x}, {C: keys}, {"x": np.zeros(len(CHECKS), np.int64)},
                      (0, 0), rng)


def test_reservoir_size_stays_at_capacity_under_10x_traffic():
    rng = np.random.default_rng(1)
    res = Reservoir(256)
    res.add(np.arange(256.0), rng)
    assert res.values.size == 256 and res.seen == 256
    for _ in range(10):
        res.add(rng.normal(size=256), rng)
    assert res.values.size == 256 and res.seen == 256 * 11


def test_time_window_memory_is_flat_between_1x_and_10x_traffic():
    def footprint(per_second):
        rng, data_rng = np.random.default_rng(2), np.random.default_rng(3)
        w = TimeWindow(60.0, 6, reservoir_size=128, sketch_k=200, max_categories=10)
        _feed_time_window(w, 0.0, 120, per_second, rng, data_rng)
        panes = w._panes
        return (len(panes), max(p.reservoirs[F].values.size for p in panes),
                max(p.sketches[F].num_retained for p in panes),
                max(len(p.counts[C]) for p in panes), sum(p.events for p in panes))

    low = footprint(100)
    high = footprint(1000)
    assert low[0] == high[0] <= 6  # panes: bounded by the layout
    assert low[1] == high[1] == 128  # reservoir at capacity
    assert high[2] <= 2 * low[2]  # KLL grows only logarithmically with n (10x data)
    assert low[3] == high[3] == 3
    assert high[4] == 10 * low[4]  # ... while the window did see 10x the events


def test_count_window_size_stays_at_cap():
    w = CountWindow(500)
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = 170
        w.append(n, {F: rng.normal(size=n)}, {C: np.array(["a"] * n, dtype=object)},
                 {"x": np.zeros(n, np.uint16)})
    assert w.events == 500 and w.pos == 50 * 170
    assert w.numeric[F].size == w.categorical[C].size == w.flags["x"].size == 500


def test_reservoir_is_uniform_whatever_the_chunking():
    capacity, stream, trials = 100, 2000, 400
    rng = np.random.default_rng(12)
    chunk_sizes = [1, 7, 50, 300, 42, 600, 1000]
    inclusion = np.zeros(stream, dtype=np.int64)
    for _ in range(trials):
        res = Reservoir(capacity)
        start = 0
        for size in chunk_sizes:
            stop = min(start + size, stream)
            res.add(np.arange(start, stop, dtype=np.float64), rng)
            start = stop
        assert start == stream and res.values.size == capacity
        assert np.unique(res.values).size == capacity  # a sample without repeats
        inclusion[res.values.astype(int)] += 1
    buckets = inclusion.reshape(20, -1).sum(axis=1)  # 20 stretches of the stream
    expected = trials * capacity / 20
    assert stats.chisquare(buckets, np.full(20, expected)).pvalue > 1e-3
    # the first (filling) stretch and the last are each ~5% of the samples
    assert abs(buckets[0] - expected) < 5 * np.sqrt(expected) and abs(buckets[-1] - expected) < 5 * np.sqrt(expected)


def test_merged_reservoirs_draw_each_part_in_proportion():
    rng = np.random.default_rng(5)
    a, b = Reservoir(100), Reservoir(100)
    a.add(np.zeros(1000), rng)  # part a: 1000 zeros
    b.add(np.ones(9000), rng)  # part b: 9000 ones
    shares = [merge_reservoirs([a, b], 100, rng).mean() for _ in range(300)]
    # the number taken from b is hypergeometric(10000, 9000, 100): mean 0.9 of the sample
    hyper = stats.hypergeom(10000, 9000, 100)
    assert np.mean(shares) == pytest.approx(hyper.mean() / 100, abs=4 * hyper.std() / 100 / np.sqrt(300))
    small = merge_reservoirs([Reservoir(100, 3, np.array([1.0, 2.0, 3.0]))], 100, rng)
    assert small.tolist() == [1.0, 2.0, 3.0]  # everything, when it all fits


def test_kll_quantiles_within_the_rank_error_bound():
    rng, data_rng = np.random.default_rng(0), np.random.default_rng(9)
    w = TimeWindow(50.0, 5, reservoir_size=64, sketch_k=200, max_categories=10)
    chunks = []
    for s in range(50):
        x = data_rng.lognormal(size=4000)
        chunks.append(x)
        w.append(float(s), x.size, {F: x}, {}, {}, (0, 0), rng)
    data = np.sort(np.concatenate(chunks))
    pane_data = np.sort(np.concatenate(chunks[40:]))  # the last pane: t = 40..49
    sketch = w._panes[-1].sketches[F]
    assert sketch.n == pane_data.size == 40_000 and sketch.is_estimation_mode()
    bound = sketch.normalized_rank_error(True)  # ~1.65% at k = 200, for all quantiles at once
    assert bound == pytest.approx(0.0165, abs=0.001)
    ranks = np.linspace(0.01, 0.99, 99)
    q = np.array(sketch.get_quantiles(ranks.tolist()))
    true_ranks = np.searchsorted(pane_data, q, side="right") / pane_data.size
    assert np.max(np.abs(true_ranks - ranks)) <= bound
    # the window's CDF (panes weighted by their counts) is within the same bound of numpy's
    summary = w.view(49.0, rng).numeric[F]
    assert summary.n == data.size == 200_000
    points = np.quantile(data, ranks)
    assert np.max(np.abs(summary.cdf(points) - np.searchsorted(data, points, side="right") / data.size)) <= bound
    # queried, not merged: the same view twice gives the same CDF
    np.testing.assert_array_equal(summary.cdf(points), w.view(49.0, rng).numeric[F].cdf(points))


def test_time_window_expires_whole_panes_with_the_injected_clock():
    rng, data_rng = np.random.default_rng(0), np.random.default_rng(1)
    w = TimeWindow(60.0, 6, reservoir_size=1000, sketch_k=200, max_categories=10)
    _feed_time_window(w, 1000.0, 30, 10, rng, data_rng)  # t = 1000..1029, 10 events/s
    assert w.view(1029.0, rng).events == 300
    # panes are 10 s: [1000,1010) [1010,1020) [1020,1030); at t=1065 the window keeps panes >= 1010
    v = w.view(1065.0, rng)
    assert v.events == 200
    assert v.numeric[F].n == 200 and v.numeric[F].sample.size == 200
    assert sum(v.categorical[C].values()) == 200
    assert w.view(1079.9, rng).events == 100
    assert w.view(1080.0, rng).events == 0 and w.pane_count == 0


def test_count_window_holds_exactly_the_last_n_events():
    w = CountWindow(10)
    values = np.arange(27, dtype=np.float64)
    values[20] = np.nan  # an event without a finite value keeps its slot
    for start, stop in ((0, 4), (4, 19), (19, 27)):
        n = stop - start
        w.append(n, {F: values[start:stop]}, {C: np.array([str(i) for i in range(start, stop)], dtype=object)},
                 {"x": np.full(n, 1, np.uint16)})
    view = w.view()
    assert view.events == 10
    assert sorted(view.numeric[F].tolist()) == [17, 18, 19, 21, 22, 23, 24, 25, 26]
    assert sorted(view.categorical[C].tolist(), key=int) == [str(i) for i in range(17, 27)]
    assert view.check_counts["x"][0] == 10
    # a column first seen late reads as absent for older events
    w.append(2, {("feature", "late"): np.array([1.0, 2.0])}, {}, {})
    assert w.view().numeric[("feature", "late")].tolist() == [1.0, 2.0]
    assert sorted(w.view().numeric[F].tolist()) == [19, 21, 22, 23, 24, 25, 26]


def test_count_window_snapshot_round_trip_and_resize():
    w = CountWindow(8)
    w.append(13, {F: np.arange(13.0)}, {C: np.array(list("abcdefghijklm"), dtype=object)},
             {"x": np.arange(13, dtype=np.uint16)})
    d = through_checkpoint(w.to_dict())
    same = CountWindow.from_dict(d)
    assert same.pos == w.pos
    np.testing.assert_array_equal(same.numeric[F], w.numeric[F])
    assert same.categorical[C].tolist() == w.categorical[C].tolist()
    np.testing.assert_array_equal(same.flags["x"], w.flags["x"])
    smaller = CountWindow.from_dict(d, size=3)  # the most recent events survive a smaller window
    assert sorted(smaller.view().numeric[F].tolist()) == [10.0, 11.0, 12.0]
    assert sorted(smaller.view().categorical[C].tolist()) == ["k", "l", "m"]


def test_time_window_snapshot_is_exact():
    rng, data_rng = np.random.default_rng(0), np.random.default_rng(1)
    w = TimeWindow(60.0, 6, reservoir_size=50, sketch_k=100, max_categories=10)
    _feed_time_window(w, 0.0, 25, 80, rng, data_rng)
    d = through_checkpoint(w.to_dict())
    other = TimeWindow(60.0, 6, reservoir_size=50, sketch_k=100, max_categories=10)
    assert other.compatible(d) and not TimeWindow(60.0, 3, 50, 100, 10).compatible(d)
    other.load_panes(d)
    for p, q in zip(w._panes, other._panes):
        assert p.index == q.index and p.events == q.events
        np.testing.assert_array_equal(p.reservoirs[F].values, q.reservoirs[F].values)
        assert p.reservoirs[F].seen == q.reservoirs[F].seen
        assert p.sketches[F].serialize() == q.sketches[F].serialize()  # byte-exact
        assert p.counts[C] == q.counts[C]
    assert d["pane_list"][0]["numeric"][0][3] == w._panes[0].sketches[F].serialize()
    va = w.view(25.0, np.random.default_rng(7))
    vb = other.view(25.0, np.random.default_rng(7))
    np.testing.assert_array_equal(va.numeric[F].sample, vb.numeric[F].sample)
    assert va.categorical == vb.categorical and va.events == vb.events
