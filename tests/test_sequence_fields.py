"""Multi-valued (sequence) fields: encoding, pooling in the embedding layer, every model, the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfbench.data import cache as data_cache
from tfbench.data.encode import RawData, RawSplit, SequenceSpec, encode, split_tokens
from tfbench.data.types import CategoricalField, EncodedDataset, Split
from tfbench.errors import DataError
from tfbench.models import own_settings, MODELS, TF4CTR_PLUGIN_MODELS, build_model, count_parameters, embedding_modules
from tfbench.models.layers import FieldEmbedding


def raw_split(cat, y):
    n = len(y)
    return RawSplit(cat=[np.array(c, dtype=object) for c in cat], num=np.empty((n, 0), np.float32), y=np.array(y, np.float32))


def seq_raw(train, valid, test, max_len=3, pooling="mean"):
    """Two fields: plain 'user', multi-valued 'tags'."""
    splits = {
        name: raw_split([[f"u{i % 2}" for i in range(len(vals))], vals], [i % 2 for i in range(len(vals))])
        for name, vals in (("train", train), ("valid", valid), ("test", test))
    }
    return RawData(
        field_names=["user", "tags"], numeric_names=[], group_field=None, splits=splits,
        sequences={"tags": SequenceSpec(max_len=max_len, separator="|", pooling=pooling)},
    )


# --------------------------------------------------------------------------- encoding


def test_split_tokens_drops_empty_tokens():
    rows, pos, tok = split_tokens(np.array(["a|b", "", "c||d", "e"], dtype=object), "|")
    assert rows.tolist() == [0, 0, 2, 2, 3]
    assert pos.tolist() == [0, 1, 0, 1, 0]
    assert tok.tolist() == ["a", "b", "c", "d", "e"]


def test_sequence_encoding_by_hand():
    # train token counts (every occurrence, also past max_len): a 1, b 3, c 1, d 1, e 1, t 2
    # min_count 2 -> b = 1 (count 3), t = 2 (count 2); OOV = 3; vocab_size 4
    train = ["a|b|c|d", "b", "", "b|e", "p|q|r|t", "t"]
    valid = ["a|zz", "b||b", "t|b|b|b"]
    test = ["unseen", "b"]
    fields, splits = encode(seq_raw(train, valid, test), min_count=2)
    tags = fields[1]
    assert (tags.name, tags.vocab_size, tags.oov_index, tags.max_len, tags.pooling, tags.width) == (
        "tags", 4, 3, 3, "mean", 3)
    assert fields[0].width == 1 and not fields[0].is_sequence
    assert splits["train"].x_cat.shape == (6, 4)
    expected_train = [
        [3, 1, 3],  # a (once) -> OOV, b, c -> OOV; d truncated
        [1, 0, 0],
        [0, 0, 0],  # empty: all padding
        [1, 3, 0],
        [3, 3, 3],  # p q r are OOV; t (4th) truncated
        [2, 0, 0],
    ]
    np.testing.assert_array_equal(splits["train"].x_cat[:, 1:], expected_train)
    np.testing.assert_array_equal(splits["valid"].x_cat[:, 1:], [[3, 3, 0], [1, 1, 0], [2, 1, 1]])
    np.testing.assert_array_equal(splits["test"].x_cat[:, 1:], [[3, 0, 0], [1, 0, 0]])


def test_group_field_cannot_be_a_sequence():
    raw = seq_raw(["a", "b"], ["a"], ["b"])
    raw.group_field = "tags"
    with pytest.raises(DataError, match="multi-valued"):
        encode(raw, 1)


def test_field_metadata_is_validated():
    with pytest.raises(ValueError):
        CategoricalField("x", 5, 4, max_len=3, pooling="max")
    with pytest.raises(ValueError):
        CategoricalField("x", 5, 4, max_len=0, pooling="mean")


# --------------------------------------------------------------------------- pooling


def test_field_embedding_pools_by_hand():
    vocab = [3, 5, 4]  # plain, mean-pooled (3 columns), sum-pooled (2 columns)
    emb = FieldEmbedding(vocab, 2, layout=[(1, None), (3, "mean"), (2, "sum")])
    w = torch.arange(24, dtype=torch.float32).reshape(12, 2)  # row r = [2r, 2r+1]
    with torch.no_grad():
        emb.table.weight.copy_(w)
    x = torch.tensor([
        [1, 1, 2, 4, 1, 3],
        [2, 0, 0, 0, 0, 0],  # both sequences all padding
        [0, 4, 0, 0, 2, 0],
    ])
    out = emb(x)
    assert out.shape == (3, 3, 2)
    seq_off, sum_off = 3, 8  # table rows of the second and third field start here
    row = lambda r: w[r]  # noqa: E731
    expected = torch.stack([
        torch.stack([row(1), (row(seq_off + 1) + row(seq_off + 2) + row(seq_off + 4)) / 3, row(sum_off + 1) + row(sum_off + 3)]),
        torch.stack([row(2), torch.zeros(2), torch.zeros(2)]),
        torch.stack([row(0), row(seq_off + 4), row(sum_off + 2)]),
    ])
    torch.testing.assert_close(out, expected)


def test_padding_rows_get_no_gradient():
    emb = FieldEmbedding([3, 5], 4, layout=[(1, None), (3, "mean")])
    x = torch.tensor([[1, 2, 0, 0], [2, 3, 4, 0]])
    emb(x).sum().backward()
    grad = emb.table.weight.grad
    assert grad[3].abs().sum() == 0  # padding index 0 of the sequence field
    assert grad[3 + 2].abs().sum() > 0 and grad[3 + 4].abs().sum() > 0


def test_layout_must_match_columns():
    emb = FieldEmbedding([3, 5], 4, layout=[(1, None), (3, "mean")])
    with pytest.raises(ValueError, match="columns"):
        emb(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError):
        FieldEmbedding([3, 5], 4, layout=[(1, None)])


# --------------------------------------------------------------------------- every model

VOCAB = [6, 5, 7, 4]
LAYOUT = [(1, None), (3, "mean"), (1, None), (2, "sum")]
SMALL = dict(embedding_dim=4, mlp_s=[8], mlp_c=[8])
# Smaller model-specific layers; CL4CTR's alignment and uniformity losses act on every table row
# (padding rows included) by design, so they are off for the padding-gradient check.
PER_MODEL = {
    "afn+": dict(afn_log_neurons=4, afn_hidden_units=[8]),
    "cl4ctr": dict(alignment_weight=0.0, uniformity_weight=0.0),
}


def seq_batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    cols = [torch.randint(1, 6, (n,), generator=g)]
    cols += [torch.randint(0, 5, (n,), generator=g) for _ in range(3)]
    cols += [torch.randint(1, 7, (n,), generator=g)]
    cols += [torch.randint(0, 4, (n,), generator=g) for _ in range(2)]
    x = torch.stack(cols, dim=1)
    x[0, 1:4] = 0  # one row whose mean-pooled field has no token
    return x


def one_token_rows(n=8, seed=1):
    """Rows whose two sequence fields hold one token each (then padding)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 7, dtype=torch.int64)
    x[:, 0] = torch.randint(0, 6, (n,), generator=g)
    x[:, 1] = torch.randint(1, 5, (n,), generator=g)
    x[:, 4] = torch.randint(0, 7, (n,), generator=g)
    x[:, 5] = torch.randint(1, 4, (n,), generator=g)
    return x


VARIANTS = [(name, {}) for name in MODELS] + [(name, {"tf4ctr": True}) for name in TF4CTR_PLUGIN_MODELS]


@pytest.mark.parametrize("name,extra", VARIANTS, ids=[f"{n}{'-tf4ctr' if e else ''}" for n, e in VARIANTS])
def test_every_model_runs_on_a_sequence_field(name, extra):
    hp = {**SMALL, **PER_MODEL.get(name, {}), **extra}
    torch.manual_seed(0)
    plain = build_model(name, VOCAB, 0, **own_settings(name, hp))
    model = build_model(name, VOCAB, 0, layout=LAYOUT, **own_settings(name, hp))
    assert count_parameters(model) == count_parameters(plain)  # the layout adds no parameters
    model.train()
    x = seq_batch()
    out = model(x, torch.zeros(len(x), 0))
    loss = out.logit.sum() + (out.aux if getattr(out, "aux", None) is not None else 0)
    loss.backward()
    tables = embedding_modules(model)
    assert tables and all(t.pooled for t in tables)
    for t in tables:
        # every table pools: the sequence fields' padding rows (field starts 6 and 18) get no gradient
        grad = t.table.weight.grad
        assert grad is not None
        assert grad[6].abs().sum() == 0 and grad[18].abs().sum() == 0
    # each table returns one embedding per field, the pooled one as computed by hand
    t = tables[0]
    e = t(x)
    assert e.shape[1] == 4
    w = t.table.weight
    b = 0  # row 0: field 1 has no token -> zero vector
    torch.testing.assert_close(e[b, 1], torch.zeros_like(e[b, 1]))
    b = 1
    toks = [int(v) for v in x[b, 1:4] if v != 0]
    want = w[[6 + v for v in toks]].mean(0) if toks else torch.zeros(w.shape[1])
    torch.testing.assert_close(e[b, 1], want)
    toks = [int(v) for v in x[b, 5:7] if v != 0]
    want = w[[18 + v for v in toks]].sum(0) if toks else torch.zeros(w.shape[1])
    torch.testing.assert_close(e[b, 3], want)

    # the logits (evaluation, float64; N(0, 1) tables, so that rows differ; EDCN's logits here
    # still differ across rows only by ~1e-7, hence float64 and tight tolerances): a sequence
    # field holding one token pools to that token's row, so on such rows the model with the
    # layout equals the plain model with the same weights on the plain fields [user, token, f2,
    # token]; and the order of a sequence field's tokens does not matter
    with torch.no_grad():
        for t in tables:
            t.table.weight.normal_()
    plain.load_state_dict(model.state_dict())
    model.double().eval()
    plain.double().eval()
    none = torch.zeros(8, 0, dtype=torch.float64)
    one = one_token_rows()
    tight = dict(rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        want = plain(one[:, [0, 1, 4, 5]], none).logit
        torch.testing.assert_close(model(one, none).logit, want, **tight)
        assert want.std() > 1e-9
        shuffled = x.clone()
        shuffled[:, 1:4], shuffled[:, 5:7] = x[:, [3, 1, 2]], x[:, [6, 5]]
        assert not torch.equal(shuffled, x)
        torch.testing.assert_close(model(shuffled, none).logit, model(x, none).logit, **tight)


# --------------------------------------------------------------------------- cache


def _tiny_dataset() -> EncodedDataset:
    fields, splits = encode(seq_raw(["a|b", "b", "b|a"], ["a"], ["b|c"]), min_count=1)
    return EncodedDataset(
        name="seq", fingerprint="f", fields=fields, numeric_fields=[], group_field=None,
        train=splits["train"], valid=splits["valid"], test=splits["test"],
    )


def test_cache_keeps_sequence_fields(tmp_path):
    ds = _tiny_dataset()
    path = tmp_path / "x.npz"
    data_cache.save(path, ds)
    back = data_cache.load(path)
    assert back.fields == ds.fields and back.fields[1].max_len == 3 and back.fields[1].pooling == "mean"
    assert back.field_layout() == [(1, None), (3, "mean")]
    np.testing.assert_array_equal(back.train.x_cat, ds.train.x_cat)


def test_old_cache_format_is_rebuilt_not_misread(tmp_path, monkeypatch):
    ds = _tiny_dataset()
    path = tmp_path / "old.npz"
    monkeypatch.setattr("tfbench.data.cache_format.FORMAT_VERSION", 1)  # where save and load read it
    data_cache.save(path, ds)
    monkeypatch.undo()
    with pytest.raises(data_cache.CacheCorrupt, match="format 1, expected 2"):
        data_cache.load(path)


def test_split_columns_of():
    ds = _tiny_dataset()
    assert ds.columns_of("user") == slice(0, 1) and ds.columns_of("tags") == slice(1, 4)
    assert isinstance(ds.train, Split)
