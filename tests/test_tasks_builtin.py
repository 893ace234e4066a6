"""Data of the built-in mnist1d and charlm tasks: deterministic, cached, no label leaks.

    pytest tests/test_tasks_builtin.py
"""

from __future__ import annotations

import numpy as np
from archagent.evals.tasks import get_task
from archagent.evals.tasks.charlm import VOCAB, bits_per_char, encode, windows
from archagent.evals.tasks.mnist1d_gen import load_mnist1d, make_dataset


def test_mnist1d_matches_the_published_generator(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHAGENT_CACHE", str(tmp_path))
    data = load_mnist1d()
    assert data["x"].shape == (4000, 40) and data["x_test"].shape == (1000, 40)
    # values printed by mnist1d 0.0.2.post1 make_dataset(get_dataset_args()), matched to 1e-15
    np.testing.assert_allclose(data["x"][0, :4], [-0.332006, -0.47191, -0.778697, -1.009741], atol=1e-6)
    assert data["y"][:10].tolist() == [2, 6, 4, 5, 6, 6, 6, 0, 3, 1] and data["y_test"][:5].tolist() == [2, 6, 3, 9, 4]
    assert np.bincount(np.concatenate([data["y"], data["y_test"]])).tolist() == [500] * 10
    (cached,) = tmp_path.glob("mnist1d-*.npz")
    again = load_mnist1d()  # read back from the cache
    assert all(np.array_equal(again[k], data[k]) for k in data)
    assert cached.stat().st_size > 0


def test_mnist1d_task_splits(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHAGENT_CACHE", str(tmp_path))
    task = get_task("mnist1d", {"val_size": 400})
    s = task.splits()
    assert s.x_train.shape == (3600, 1, 40) and s.x_val.shape == (400, 1, 40) and s.x_test.shape == (1000, 1, 40)
    assert s.x_train.dtype == np.float32 and task.spec.in_shape == (1, 40)
    assert np.array_equal(s.x_train[:, 0], make_dataset()["x"][:3600].astype(np.float32))
    assert abs(float(s.x_val.mean())) < 0.05 and abs(float(s.x_test.std()) - 1) < 0.05  # scaled like training


def test_mnist1d_heldout_split_cannot_be_regenerated_from_the_public_generator(tmp_path, monkeypatch):
    """The jail can read mnist1d_gen.py: its seed-42 data (all 5,000 signals) must not contain the held-out
    signals, and a job that regenerates it learns nothing about their labels."""
    monkeypatch.setenv("ARCHAGENT_CACHE", str(tmp_path))
    s = get_task("mnist1d").splits()
    public = make_dataset()
    published = np.concatenate([public["x"], public["x_test"]]).astype(np.float32)  # (5000, 40)
    for held in (s.x_val[:, 0], s.x_test[:, 0]):
        nearest = ((held[:, None, :] - published[None, :, :]) ** 2).sum(-1).min(1)  # squared distance
        assert nearest.min() > 1.0  # no held-out signal is (nearly) a published one


def test_mnist1d_heldout_split_follows_the_secret(tmp_path, monkeypatch):
    """Same secret, same split (reproducible for the owner); another secret, another split; a pinned seed wins;
    with neither, a per-install key is created (0600) under the config dir and reused."""
    from archagent.evals.tasks.heldout import KEY_FILE, SECRET_ENV

    monkeypatch.setenv("ARCHAGENT_CACHE", str(tmp_path))
    first, again = (get_task("mnist1d").splits() for _ in range(2))
    assert np.array_equal(first.y_val, again.y_val) and np.array_equal(first.x_test, again.x_test)
    monkeypatch.setenv(SECRET_ENV, "another secret")
    other = get_task("mnist1d")
    assert not np.array_equal(other.splits().x_val, first.x_val) and other.heldout_id != get_task.__name__
    pinned = [get_task("mnist1d", {"heldout_seed": 7}) for _ in range(2)]
    assert pinned[0].heldout_id == pinned[1].heldout_id != other.heldout_id
    monkeypatch.delenv(SECRET_ENV)
    monkeypatch.setenv("ARCHAGENT_CONFIG", str(tmp_path / "config"))
    installed = get_task("mnist1d").heldout_id
    key = tmp_path / "config" / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and get_task("mnist1d").heldout_id == installed


def test_charlm_encoding_and_windows():
    ids = encode("ab\n\té€")
    assert ids.tolist() == [VOCAB.index("a"), VOCAB.index("b"), 1, 2, 0, 0]
    x, y = windows(np.arange(20), 4)  # chunks of 5: inputs 4, targets shifted by one
    assert x.tolist()[:2] == [[0, 1, 2, 3], [5, 6, 7, 8]] and y.tolist()[:2] == [[1, 2, 3, 4], [6, 7, 8, 9]]


def test_charlm_validation_targets_beyond_inputs_stay_hidden(tmp_path):
    text = "".join(chr(c) for c in np.random.default_rng(0).integers(32, 127, 20_000))  # no repeated windows
    (tmp_path / "corpus.txt").write_text(text)
    task = get_task("charlm", {"files": [str(tmp_path / "corpus.txt")], "seq_len": 16, "eval_windows": 50})
    s = task.splits()
    assert s.x_val.shape == (50, 16) and s.x_train.dtype == np.int64 and task.spec.n_out == len(VOCAB)
    assert np.array_equal(s.x_val[:, 1:], s.y_val[:, :-1])  # targets are the next characters
    public = {tuple(row) for k in ("x_train", "x_val", "x_test") for row in s.public()[k]}
    ids = encode(text)
    for row_x, row_y in zip(s.x_val, s.y_val, strict=True):
        start = next(i for i in range(len(ids)) if np.array_equal(ids[i : i + 16], row_x))
        after = tuple(ids[start + 16 : start + 32])  # the window that would begin at the last target
        assert after not in public and row_y[-1] == ids[start + 16]


def test_charlm_stdlib_corpus_and_bpc():
    task = get_task("charlm", {"eval_windows": 8})
    s = task.splits()
    assert len(s.x_train) > 5000 and s.x_val.shape == (8, 128) and not task.higher_is_better
    uniform = np.zeros((*s.y_val.shape, len(VOCAB)), np.float32)
    assert abs(task.score(uniform, "val") - np.log2(len(VOCAB))) < 1e-9
    perfect = np.eye(len(VOCAB), dtype=np.float32)[s.y_val] * 50
    assert bits_per_char(perfect, s.y_val) < 1e-6
