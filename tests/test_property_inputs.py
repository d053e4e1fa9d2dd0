"""Property-based tests (hypothesis) of everything that reads user input (issue #17): the CSV and
libFM readers, the study / --config / search-space YAML loaders and RunConfig.from_dict. Random
bytes, random rows and random mappings: every example either loads or raises tfbench's own
one-line error (a TfbenchError with a non-empty, single-line message); no other exception escapes.

hypothesis and function-scoped fixtures do not mix, so each test makes its own temporary folder
and the property inside it rewrites one small file per example. No database; nothing trains."""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfbench.config import RunConfig, known_settings, load_config_file
from tfbench.data.csv_source import load_csv_folder
from tfbench.data.libfm_source import parse_libfm_file
from tfbench.errors import TfbenchError
from tfbench.studies.spec import load_study
from tfbench.tune.space import load_space

STUDIES = Path(__file__).resolve().parent.parent / "studies"
# database=None: nothing written next to the tests; the examples are random on every run
MANY = settings(max_examples=2000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def loads_or_one_line_error(call) -> None:
    try:
        call()
    except TfbenchError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message and "\r" not in message, repr(message)


# --------------------------------------------------------------------------- building blocks

CELLS = st.sampled_from(["0", "1", "0.0", "1.0", " 1", "2", "-1", "", "a", "é", "x y", '"', '""', '"a,b"',
                         "1e400", "nan", "inf", "-0", "1.5", "\t", "label", "user", "\\", "\x00", "\ufeff"])
SEPARATORS = st.sampled_from([",", ",", ",", ";", "\t", ",,"])
NEWLINES = st.sampled_from(["\n", "\n", "\r\n", "\r", ""])


@st.composite
def csv_texts(draw) -> bytes:
    """A header and rows: mostly well-formed (so the reader gets past the header), with random cells."""
    n = draw(st.integers(1, 4))
    header = draw(st.one_of(
        st.just(["label"] + [f"f{i}" for i in range(n)]),
        st.lists(st.one_of(CELLS, st.just("label")), min_size=1, max_size=5)))
    rows = draw(st.lists(st.lists(CELLS, min_size=max(0, len(header) - 1), max_size=len(header) + 1),
                         max_size=6))
    sep, nl = draw(SEPARATORS), draw(NEWLINES)
    text = nl.join(sep.join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "\n", "\n\n"]))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "latin-1"])), errors="replace")


GOOD_CSV = b"label,f0,f1\n1,a,3\n0,b,4\n"


@st.composite
def libfm_texts(draw) -> bytes:
    tokens = st.one_of(
        st.builds(lambda i, v: f"{i}:{v}", st.integers(-3, 10**20), st.sampled_from(["1", "0.5", "nan", "x", "", "1:2"])),
        st.sampled_from(["1", "-1", "0", "2", "1.0", "+1", ":", "a:b", "1::1", "\x00", "é:1", "1e5:1", "0x1:1"]))
    lines = draw(st.lists(st.lists(tokens, max_size=5), max_size=6))
    sep, nl = draw(st.sampled_from([" ", "  ", "\t", " \x0b"])), draw(NEWLINES)
    return (nl.join(sep.join(line) for line in lines) + draw(st.sampled_from(["", "\n"]))).encode("utf-8")


# YAML-representable values, as a user might write them (and some they should not)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=5), st.sampled_from(["SER", "WSF", "tf4ctr", "AUC", "gAUC", "logloss", "synthetic",
                                          "frappe", "tf", "-", "1e-3", "yes", "~", "[]"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=6), st.integers(-3, 3)), inner, max_size=4)),
    max_leaves=6)


def yaml_bytes(doc) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8")


@st.composite
def mutated(draw, original):
    """``original`` (a parsed YAML document) with a few subtrees replaced, removed or added."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 2))):
        node, key = doc, None
        while True:   # walk down to a random node
            children = list(node.keys()) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
            if not children or draw(st.integers(0, 2)) == 0:
                break
            key = draw(st.sampled_from(children))
            if not isinstance(node[key], (dict, list)) or draw(st.booleans()):
                break
            node, key = node[key], None
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if key is None or not isinstance(node, (dict, list)):
            if isinstance(doc, dict):
                doc[draw(st.text(max_size=6))] = draw(VALUES)
            continue
        if action == "delete":
            del node[key]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.one_of(st.text(max_size=8), st.sampled_from(sorted(known_settings()))))] = draw(VALUES)
        else:
            node[key] = draw(VALUES)
    return doc


def documents(original):
    # random bytes (a binary file, found escaping as UnicodeDecodeError before the Safe-YAML work of
    # #17 made read_yaml refuse it), random text, the real document mutated, random YAML values
    return st.one_of(st.binary(max_size=120), st.text(max_size=80).map(lambda t: t.encode("utf-8")),
                     mutated(original).map(yaml_bytes), VALUES.map(yaml_bytes))


# --------------------------------------------------------------------------- the readers

def test_csv_reader_loads_or_gives_one_line_error():
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        for split in ("valid", "test"):
            (folder / f"{split}.csv").write_bytes(GOOD_CSV)

        @MANY
        @given(data=st.one_of(st.binary(max_size=120), csv_texts()), numeric=st.sampled_from([[], ["f1"]]),
               group=st.sampled_from([None, "f0"]))
        def check(data, numeric, group):
            (folder / "train.csv").write_bytes(data)
            loads_or_one_line_error(lambda: load_csv_folder(folder, numeric, group))

        check()


def test_libfm_reader_loads_or_gives_one_line_error():
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.libfm"

        @MANY
        @given(data=st.one_of(st.binary(max_size=120), libfm_texts()), n_fields=st.sampled_from([None, None, 1, 2]))
        def check(data, n_fields):
            path.write_bytes(data)
            loads_or_one_line_error(lambda: parse_libfm_file(path, n_fields))

        check()


def test_study_loader_loads_or_gives_one_line_error():
    original = yaml.safe_load((STUDIES / "fig9.yaml").read_text())
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "study.yaml"

        @MANY
        @given(data=documents(original))
        def check(data):
            path.write_bytes(data)
            loads_or_one_line_error(lambda: load_study(str(path)))

        check()


def test_config_loader_loads_or_gives_one_line_error():
    original = {"model": "dcnv2", "embedding_dim": 8, "num_cross_layers": 2, "loss": "focal", "epochs": 2,
                "mlp_s": [16, 16], "learning_rate": 0.001, "dataset": "synthetic"}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.yaml"

        @MANY
        @given(data=documents(original))
        def check(data):
            path.write_bytes(data)
            # what `tfbench train --config` does with it: read, then validate the file's values
            loads_or_one_line_error(lambda: RunConfig.from_dict(load_config_file(path), source=f"config file {path}"))

        check()


def test_space_loader_loads_or_gives_one_line_error():
    original = yaml.safe_load((STUDIES / "spaces" / "cross.yaml").read_text())
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "space.yaml"

        @MANY
        @given(data=documents(original))
        def check(data):
            path.write_bytes(data)
            loads_or_one_line_error(lambda: load_space(path))

        check()


NAMES = st.one_of(st.sampled_from(sorted(known_settings())), st.text(max_size=6))


@MANY
@given(values=st.dictionaries(NAMES, VALUES, max_size=6),
       model=st.sampled_from([None, "tf4ctr", "dcnv2", "deepfm", "autoint", "cl4ctr", "eulernet", "dlf"]),
       strict=st.booleans())
def test_run_config_from_random_mappings_builds_or_gives_one_line_error(values, model, strict):
    if model is not None:
        values = {**values, "model": model}

    def build():
        cfg = RunConfig.from_dict(values, strict=strict)
        flat = cfg.effective_dict()          # what a run key is made of: must be plain and finite where numeric
        for name, v in flat.items():
            assert not (isinstance(v, float) and math.isnan(v)), (name, v)

    loads_or_one_line_error(build)


def test_space_models_that_are_not_names_are_a_one_line_error():
    """Found by the property test above: `models: 1` escaped load_space as TypeError ('int' object is
    not iterable), and `models: [{a: 1}]` as TypeError (unhashable)."""
    import pytest

    from tfbench.errors import ConfigError

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "space.yaml"
        for models, message in (("1", "'models' must be a model name or a list of them, got int"),
                                ("[{a: 1}]", "models: unknown model '{'a': 1}'")):
            path.write_text(f"models: {models}\nparams: {{dropout: {{low: 0.0, high: 0.3}}}}\n")
            with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("{", r"\{").replace("(", r"\(")):
                load_space(path)
