"""Run keys must not change when the code is reorganised: a changed key orphans every stored run.

``tests/fixtures/keys/run_keys.json`` holds the keys of every cell of every study file (every named
dataset, the first two seeds, full and quick) and of each model's defaults, recorded by
``tests/fixtures/keys/generate.py`` with the code of commit 0260885, before the settings refactor of #13. Only a deliberate, documented change of what a run computes may update it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

KEYS_DIR = Path(__file__).parent / "fixtures" / "keys"
_spec = importlib.util.spec_from_file_location("key_fixture_generate", KEYS_DIR / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)
SAVED = json.loads((KEYS_DIR / "run_keys.json").read_text())


@pytest.mark.parametrize("group", ["study", "defaults"])
def test_every_saved_run_key_is_recomputed_unchanged(group):
    current = generate.study_keys() if group == "study" else generate.default_keys()
    saved = {k: v for k, v in SAVED.items() if k.startswith("defaults|") == (group == "defaults")}
    assert saved, "the fixture holds no keys of this group"
    missing = sorted(set(saved) - set(current))
    changed = sorted(k for k in saved if k in current and current[k] != saved[k])
    assert not missing, f"{len(missing)} saved cells no longer exist, e.g. {missing[:3]}"
    assert not changed, f"{len(changed)} of {len(saved)} keys changed, e.g. {changed[:5]}"
