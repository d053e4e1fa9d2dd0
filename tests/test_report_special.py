"""Studies with their own reporter (``report: NAME``) and studies that train nothing (``kind: analytic``)."""

import textwrap

import pytest
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.db import ResultStore
from tfbench.errors import ConfigError
from tfbench.report import special
from tfbench.report.study_report import write_report
from tfbench.studies import expand, load_study

ANALYTIC = textwrap.dedent("""\
    name: echo
    title: "an analytic study"
    kind: analytic
    report: echo_for_tests
    report_settings: {word: hello}
""")
GRID_WITH_REPORT = textwrap.dedent("""\
    name: gridecho
    kind: figure
    datasets: [synthetic]
    seeds: [1]
    base: {model: dnn, synthetic_rows: 2000}
    grid: {dropout: [0.0, 0.1]}
    layout: {rows: dropout}
    report: echo_for_tests
""")


@pytest.fixture
def echo(monkeypatch, tmp_path):
    """A reporter that writes its word and what it was given; the study folder holds the test studies."""
    calls = []

    def render(study, store, *, fmt, out_dir, datasets, quick, seeds):
        calls.append(dict(study=study.name, fmt=fmt, datasets=datasets, quick=quick, seeds=seeds))
        path = out_dir / f"{study.name}.txt"
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(study.report_settings.get("word", "none"))
        return f"echo {study.report_settings.get('word')}", [path], 0

    def check(study):
        if study.report_settings.get("word") == "bad":
            raise ConfigError("'report_settings.word' must not be bad")

    monkeypatch.setitem(special._REGISTERED, "echo_for_tests",
                        special.Reporter(name="echo_for_tests", render=render, check=check))
    folder = tmp_path / "studies"
    folder.mkdir()
    monkeypatch.setenv("TFBENCH_STUDIES_DIR", str(folder))
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp_path / 'results.db'}")
    return folder, calls


def test_analytic_study_plans_nothing_and_its_reporter_draws_it(echo, tmp_path):
    folder, calls = echo
    (folder / "echo.yaml").write_text(ANALYTIC)
    study = load_study("echo")
    assert study.kind == "analytic" and not study.trains and study.report == "echo_for_tests"
    assert study.report_settings == {"word": "hello"} and study.datasets == () and study.grid == {}
    assert expand(study) == [] and expand(study, datasets=["synthetic"], seeds=(1,)) == []

    runner = CliRunner()
    r = runner.invoke(app, ["run", "echo"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "echo: nothing to train for this study (kind analytic: its report is computed, not trained); "
        "`tfbench report echo` draws it"]
    assert not ResultStore(None).study_runs("echo")           # nothing registered either

    r = runner.invoke(app, ["report", "echo", "--out", str(tmp_path / "rep"), "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert "echo hello" in r.output and (tmp_path / "rep" / "echo.txt").read_text() == "hello"
    assert calls == [dict(study="echo", fmt="csv", datasets=None, quick=False, seeds=None)]

    r = runner.invoke(app, ["studies"])
    assert r.exit_code == 0, r.output
    line = next(l for l in r.output.splitlines() if "│ echo " in l)
    assert "analytic (echo_for_tests)" in line and "│ 0 " in line
    assert "table6" in r.output and "ssem(4) x dfm(5)" in r.output   # the grid studies still list as before


def test_grid_study_with_a_reporter_keeps_its_runs_and_hands_over_its_report(echo, tmp_path):
    folder, calls = echo
    (folder / "gridecho.yaml").write_text(GRID_WITH_REPORT)
    study = load_study("gridecho")
    assert study.trains and study.report == "echo_for_tests"
    assert len(expand(study)) == 2                                   # its grid is planned as usual
    text, files, n = write_report(study, ResultStore(None), fmt="markdown", out_dir=tmp_path / "rep",
                                  datasets=["synthetic"], quick=True, seeds=(1,))
    assert text == "echo None" and files == [tmp_path / "rep" / "gridecho.txt"] and n == 0
    assert calls == [dict(study="gridecho", fmt="markdown", datasets=["synthetic"], quick=True, seeds=(1,))]


@pytest.mark.parametrize("text,needle", [
    (ANALYTIC.replace("echo_for_tests", "nope"), "'report' names no reporter 'nope' (reporters: "),
    (ANALYTIC.replace("{word: hello}", "{word: bad}"), "echo.yaml: 'report_settings.word' must not be bad"),
    (ANALYTIC + "grid: {dropout: [0.1]}\n", "'grid' is a training field; a 'kind: analytic' study trains nothing"),
    (ANALYTIC + "seeds: [1]\n", "'seeds' is a training field"),
    (ANALYTIC.replace("report: echo_for_tests\n", ""), "'report' is missing"),
    (ANALYTIC.replace("report_settings: {word: hello}", "report_settings: [1]"), "'report_settings' must be a mapping"),
    (GRID_WITH_REPORT.replace("report: echo_for_tests\n", "report_settings: {word: x}\n").replace("gridecho", "echo"),
     "'report_settings' needs a 'report' to read it"),
    (GRID_WITH_REPORT.replace("kind: figure", "kind: chart").replace("gridecho", "echo"),
     "'kind' must be one of table, figure, analytic"),
])
def test_bad_reporter_fields_are_errors_of_the_study_file(echo, text, needle):
    folder, _ = echo
    (folder / "echo.yaml").write_text(text)
    with pytest.raises(ConfigError) as e:
        load_study("echo")
    assert needle in str(e.value) and str(folder / "echo.yaml") in str(e.value)


def test_builtin_reporters_resolve_by_name():
    for name in special.BUILTIN:
        assert special.get_reporter(name).name == name
    assert set(special.BUILTIN) <= set(special.reporter_names())
