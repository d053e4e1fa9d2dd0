"""YAML files cannot exhaust memory or time (issue #17): a "billion laughs" document of nested
aliases inside a real setting is refused at load with one line naming the file, for config,
study and search-space files alike; `tfbench studies` lists the good studies and reports each
broken file on its own line."""

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.errors import ConfigError
from tfbench.yamlfile import MAX_EXPANDED, read_yaml

STUDIES = Path(__file__).resolve().parents[1] / "studies"

# 8 levels of 9 aliases inside one setting: its last item reaches 9**8 = 43 million "lol"s (about
# 170 MB of text once expanded) from under 1 kB.
def laughs(indent: str, mapping: bool = False) -> str:
    """A block sequence (at ``indent``) of the nested aliases, each level defined in an item (or,
    ``mapping``, a block mapping level_a: ..., level_b: ...)."""
    levels = [f"&a [{', '.join(['lol'] * 9)}]"]
    levels += [f"&{name} [{', '.join([f'*{prev}'] * 9)}]" for prev, name in zip("abcdefg", "bcdefgh")]
    return "".join(f"{indent}{f'level_{level[1]}:' if mapping else '-'} {level}\n" for level in levels)


REFUSED = f"its YAML aliases expand to more than {MAX_EXPANDED:,} characters"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def error_line(result, code=2) -> str:
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    return lines[0]


def laughs_at(key: str, rest: str = "", mapping: bool = False) -> str:
    """A document whose setting ``key`` (``a.b``: b inside a) holds the nested aliases."""
    *outer, inner = key.split(".")
    head = "".join("  " * i + f"{k}:\n" for i, k in enumerate(outer))
    return rest + head + "  " * len(outer) + f"{inner}:\n" + laughs("  " * (len(outer) + 1), mapping)


def _study(tmp_path, **fields) -> dict:
    body = {"name": "bomb", "title": "t", "kind": "table", "datasets": ["synthetic"], "seeds": [2023],
            "base": {"model": "dnn"}, "grid": {"dropout": [0.0, 0.1]}, "layout": {"rows": "dropout"}}
    body.update(fields)
    return body


def test_the_laughs_really_are_a_bomb():
    """The reference: the document is under 1 kB, and mlp_s reaches 9**8 scalars through its aliases."""
    from functools import lru_cache

    node = yaml.compose(laughs_at("mlp_s"))
    mlp_s = next(v for k, v in node.value if k.value == "mlp_s")
    by_id = {}

    @lru_cache(maxsize=None)
    def scalars(node_id):
        n = by_id[node_id]
        if isinstance(n, yaml.ScalarNode):
            return 1
        for child in n.value:
            by_id[id(child)] = child
        return sum(scalars(id(child)) for child in n.value)

    by_id[id(mlp_s)] = mlp_s
    assert scalars(id(mlp_s)) == sum(9 ** k for k in range(1, 9)) and len(laughs_at("mlp_s")) < 1000


def test_a_config_file_with_nested_aliases_in_mlp_s_is_refused_at_once(isolated, tmp_path):
    f = tmp_path / "cfg.yaml"
    f.write_text(laughs_at("mlp_s", mapping=True))
    assert error_line(invoke("train", "--config", f)) == f"error: config file {f}: {REFUSED}; refusing it " \
        "(write the values out, or use fewer nested aliases)"


@pytest.mark.parametrize("field", ["grid", "title"])
def test_a_study_file_with_nested_aliases_in_its_grid_or_title_is_refused_at_once(isolated, tmp_path, field):
    fields = _study(tmp_path)
    fields.pop(field)
    f = tmp_path / "bomb.yaml"
    f.write_text(laughs_at("grid.dropout" if field == "grid" else "title", yaml.safe_dump(fields, sort_keys=False)))
    line = error_line(invoke("run", f, "--dry-run"))
    assert line.startswith(f"error: study file {f}: {REFUSED}")


def test_a_search_space_file_with_nested_aliases_is_refused_at_once(isolated, tmp_path):
    f = tmp_path / "space.yaml"
    f.write_text(laughs_at("params.mlp_c.choices.big", "name: s\nmodels: [dnn]\n"))
    line = error_line(invoke("tune", "--model", "dnn", "--space", f, "--trials", "1"))
    assert line.startswith(f"error: search space file {f}: {REFUSED}")


def test_a_recursive_alias_is_refused_and_small_aliases_still_load(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: a YAML alias refers to the node that contains it"):
        read_yaml(f, "config file")
    f.write_text("base: &b {dropout: 0.1, mlp_c: [8, 8]}\nother: *b\n")
    assert read_yaml(f, "config file") == {"base": {"dropout": 0.1, "mlp_c": [8, 8]},
                                           "other": {"dropout": 0.1, "mlp_c": [8, 8]}}


def test_an_oversized_file_is_refused_without_parsing_it(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("x: [" + "1, " * 400_000 + "1]\n")
    with pytest.raises(ConfigError, match=r"big\.yaml is larger than 1,000,000 bytes"):
        read_yaml(f, "study file")


def test_studies_lists_the_good_studies_and_one_line_per_broken_file(tmp_path, monkeypatch):
    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(STUDIES / "table3.yaml", folder / "table3.yaml")
    shutil.copy(STUDIES / "fig7.yaml", folder / "fig7.yaml")
    (folder / "broken.yaml").write_text("name: broken\ngrid: [unclosed\n")
    (folder / "laughs.yaml").write_text(laughs_at("title", "name: laughs\n"))
    monkeypatch.setenv("TFBENCH_STUDIES_DIR", str(folder))
    r = invoke("studies")
    assert r.exit_code == 1, r.output
    listed = {line.split("│")[1].strip() for line in r.stdout.splitlines() if line.startswith("│")}
    assert {"table3", "fig7"} <= listed and not {"broken", "laughs"} & listed
    errors = [l for l in r.stderr.splitlines() if l.strip()]
    assert errors == [
        f"error: study file {folder / 'broken.yaml'} line 3: not valid YAML",
        f"error: study file {folder / 'laughs.yaml'}: {REFUSED}; refusing it (write the values out, or use fewer "
        "nested aliases)",
    ]
