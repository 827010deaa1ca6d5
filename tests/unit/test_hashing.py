import numpy as np
import pytest

from medstrata.hashing import canonical_json, content_hash, keyed_rng, keyed_uniform


def test_canonical_json_is_order_and_whitespace_free():
    assert canonical_json({"b": 1, "a": [1.5, "x"]}) == '{"a":[1.5,"x"],"b":1}'
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})


def test_canonical_json_golden_hash():
    # Pinned: a change in canonicalisation must fail loudly (DomainBed #16).
    assert content_hash({"dataset": "bloodmnist", "seed": 0, "p": 0.05}) == (
        "e8c1770c33cd971953ed755eeb3e3a4fba2ad7a6c6c0a5c057d1a4f719549287"
    )


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_keyed_uniform_is_order_independent_and_purpose_specific():
    ids = [f"s{i}" for i in range(200)]
    u = keyed_uniform("k", ids, "assign")
    perm = np.random.default_rng(0).permutation(200)
    u_perm = keyed_uniform("k", [ids[i] for i in perm], "assign")
    np.testing.assert_array_equal(u[perm], u_perm)
    assert not np.allclose(u, keyed_uniform("k", ids, "flip"))
    assert not np.allclose(u, keyed_uniform("k2", ids, "assign"))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.1


def test_keyed_rng_repeats():
    assert keyed_rng("a", "b").integers(1 << 30) == keyed_rng("a", "b").integers(1 << 30)
    assert keyed_rng("a", "b").integers(1 << 30) != keyed_rng("a", "c").integers(1 << 30)
