"""The paper's five datasets as data: folder, files, fields, loader and the statistics the paper reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tfbench.data.encode import RawData, SequenceSpec
from tfbench.data.paper_loaders import ML1M_FIELDS, _bars_loader, age_bucket, criteo_bucket, isrc_country, load_ml1m

BARS_FILES = ("train.csv", "valid.csv", "test.csv")
ML1M_FILES = ("ratings.dat", "users.dat")


@dataclass(frozen=True)
class Expected:
    """Statistics of the full dataset as the paper (Table III) and the authors' run logs report them.

    ``features`` is Table III's "#Features", the sum of the per-field vocabulary sizes with the
    padding and OOV entries. ``vocab_sizes`` are the per-field sizes printed in the authors'
    FuxiCTR logs (salmon1802/TF4CTR, ``checkpoints/``), shown beside ours by ``tfbench data
    info``; they add up to Table III's number for KKBox and ML-tag but not quite for Frappe
    (5,383) and ML-1M (9,626), so the check compares our total with their sum.
    """

    rows: dict[str, int]
    positive_percent: float  # Table III, one decimal
    fields: int
    features: int
    min_count: int
    vocab_sizes: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def run_features(self) -> int:
        """The total vocabulary the authors' preprocessing produced (their logs), else Table III's."""
        return sum(self.vocab_sizes.values()) if self.vocab_sizes else self.features


@dataclass(frozen=True)
class PaperDataset:
    name: str
    title: str  # the paper's name for it
    description: str
    folder: str
    files: tuple[str, ...]
    fields: tuple[str, ...]
    group_field: str | None
    expected: Expected
    build: Callable[[Path], RawData]
    url: str = ""

    @property
    def total_rows(self) -> int:
        return sum(self.expected.rows.values())


# ---------------------------------------------------------------------------------------- registry

FRAPPE_FIELDS = ("user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city")
MLTAG_FIELDS = ("user_id", "item_id", "tag_id")
KKBOX_FIELDS = (
    "msno", "song_id", "source_system_tab", "source_screen_name", "source_type", "city", "gender",
    "registered_via", "language", "genre_ids", "artist_name", "isrc", "bd",
)
KKBOX_SEQUENCES = {"genre_ids": SequenceSpec(max_len=3, separator="|"), "artist_name": SequenceSpec(max_len=3, separator="|")}
CRITEO_NUMERIC = tuple(f"I{i}" for i in range(1, 14))
CRITEO_FIELDS = CRITEO_NUMERIC + tuple(f"C{i}" for i in range(1, 27))

# Per-field vocabulary sizes (padding + OOV included) printed in the authors' FuxiCTR logs.
_CRITEO_VOCAB = dict(zip(
    CRITEO_FIELDS,
    (44, 99, 122, 41, 220, 112, 80, 69, 92, 6, 27, 37, 72,
     1446, 554, 157339, 117822, 306, 18, 11882, 630, 5, 39530, 5131, 156656, 3176, 28, 11043, 148913, 12, 4560,
     2003, 5, 154564, 18, 17, 53031, 82, 40955),
))

PAPER_DATASETS: dict[str, PaperDataset] = {
    "frappe": PaperDataset(
        name="frappe", title="Frappe",
        description="BARS Frappe_x1: app usage, 10 fields, given 7:2:1 split",
        folder="Frappe_x1", files=BARS_FILES, fields=FRAPPE_FIELDS, group_field="user",
        url="https://huggingface.co/datasets/reczoo/Frappe_x1",
        expected=Expected(
            rows={"train": 202_027, "valid": 57_722, "test": 28_860}, positive_percent=33.3, fields=10,
            features=5_382, min_count=2,
            vocab_sizes=dict(zip(FRAPPE_FIELDS, (942, 4084, 9, 9, 4, 5, 4, 11, 82, 233))),
            note="vocabularies from TF4CTRv2_Frappe_002 (they add up to 5,383, one more than Table III)",
        ),
        build=_bars_loader("frappe", FRAPPE_FIELDS, "user"),
    ),
    "ml-tag": PaperDataset(
        name="ml-tag", title="ML-tag",
        description="BARS MovielensLatest_x1: user, item, tag; given 7:2:1 split",
        folder="MovielensLatest_x1", files=BARS_FILES, fields=MLTAG_FIELDS, group_field="user_id",
        url="https://huggingface.co/datasets/reczoo/MovielensLatest_x1",
        expected=Expected(
            rows={"train": 1_404_801, "valid": 401_372, "test": 200_686}, positive_percent=33.3, fields=3,
            features=88_596, min_count=2, vocab_sizes=dict(zip(MLTAG_FIELDS, (16362, 22575, 49659))),
            note="rows and vocabularies from TF4CTRv2_Movielens_045 (valid 401,372; the rows add up to Table III's 2,006,859)",
        ),
        build=_bars_loader("ml-tag", MLTAG_FIELDS, "user_id"),
    ),
    "ml-1m": PaperDataset(
        name="ml-1m", title="ML-1M",
        description="MovieLens-1M ratings.dat + users.dat: 5 fields, rating >= 4 positive, 8:1:1 split by time",
        folder="ml-1m", files=ML1M_FILES, fields=ML1M_FIELDS, group_field="UserID",
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        expected=Expected(
            rows={"train": 800_167, "valid": 100_021, "test": 100_021}, positive_percent=57.5, fields=5,
            features=9_776, min_count=2,
            vocab_sizes={"UserID": 6042, "MovieID": 3548, "Gender": 4, "Age": 9, "Occupation": 23},
            note="rows and vocabularies from TF4CTRv2_ML-1M_003 (its vocabularies add up to 9,626, not Table III's 9,776)",
        ),
        build=load_ml1m,
    ),
    "kkbox": PaperDataset(
        name="kkbox", title="KKBox",
        description="BARS KKBox_x1: 13 fields incl. multi-valued genre_ids and artist_name (max 3); given 8:1:1 split",
        folder="KKBox_x1", files=BARS_FILES, fields=KKBOX_FIELDS, group_field="msno",
        url="https://huggingface.co/datasets/reczoo/KKBox_x1",
        expected=Expected(
            rows={"train": 5_901_932, "valid": 737_743, "test": 737_743}, positive_percent=50.4, fields=13,
            features=227_853, min_count=2,
            vocab_sizes=dict(zip(KKBOX_FIELDS, (29506, 172297, 10, 22, 14, 23, 4, 7, 12, 483, 25369, 97, 9))),
            note="fields and vocabularies of the authors' KKBox_x1 config (TF4CTRv2_KKBox_002; Table III lists 19"
                 " fields); BARS itself used min_count 10",
        ),
        build=_bars_loader(
            "kkbox", KKBOX_FIELDS, "msno",
            transforms={"isrc": isrc_country, "bd": age_bucket},
            sequences=KKBOX_SEQUENCES,
        ),
    ),
    "criteo": PaperDataset(
        name="criteo", title="Criteo",
        description="Criteo_x4: 13 numeric fields discretised + 26 categorical, min_count 10; given 8:1:1 split",
        folder="Criteo_x4", files=BARS_FILES, fields=CRITEO_FIELDS, group_field=None,
        url="https://huggingface.co/datasets/reczoo/Criteo_x4",
        expected=Expected(
            rows={"train": 36_672_493, "valid": 4_584_062, "test": 4_584_062}, positive_percent=25.6, fields=39,
            features=5_549_252, min_count=10, vocab_sizes=_CRITEO_VOCAB,
            note="rows and vocabularies from TF4CTRv2_Criteo_10_026 (FuxiCTR fills a missing I* with 0;"
                 " here it is its own token, so each I* vocabulary may be one larger)",
        ),
        build=_bars_loader(
            "criteo", CRITEO_FIELDS, None, label="Label",
            transforms={name: criteo_bucket for name in CRITEO_NUMERIC}, keep_missing=CRITEO_NUMERIC,
        ),
    ),
}
