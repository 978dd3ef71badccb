"""Generalization hierarchies: file/tree loading, generated hierarchies, validation and encoding."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anon_ops.config import (
    AutoHierarchy,
    DateHierarchy,
    FileHierarchy,
    IntervalHierarchy,
    JobConfig,
    MaskingHierarchy,
    TreeHierarchy,
)
from anon_ops.engine.hierarchy import (
    Hierarchy,
    build_hierarchy,
    leaf_codes,
    level_labels,
    lookup_tables,
    read_hierarchy_file,
    values_as_text,
)
from anon_ops.errors import ConfigError, DataError
from tests.conftest import SHARED

ADULT = SHARED / "data" / "adult"
ARX_TINY = SHARED / "data" / "arx_tiny"


def interval(*widths: float, **params: object) -> IntervalHierarchy:
    return IntervalHierarchy(type="interval", params={"intervals": list(widths), **params})


def masking(**params: object) -> MaskingHierarchy:
    return MaskingHierarchy(type="masking", params=params)


def date(**params: object) -> DateHierarchy:
    return DateHierarchy(type="date", params=params)


def tree(mapping: dict[str, list[str]]) -> TreeHierarchy:
    return TreeHierarchy(type="tree", params={"mapping": mapping})


def auto(**params: object) -> AutoHierarchy:
    return AutoHierarchy(type="auto", params=params)


def rows(h: Hierarchy) -> list[list[str]]:
    return h.levels.tolist()


def assert_valid(h: Hierarchy, values: pd.Series) -> None:
    """A tree whose leaves cover the data, with consistent integer encodings."""
    levels = h.levels
    assert levels.dtype == object and levels.ndim == 2 and h.height >= 1
    assert all(type(v) is str for v in levels.ravel())
    assert len(set(h.leaves)) == h.domain_size
    for level in range(h.height):  # plain Python: pandas' groupby merges strings at a NUL character
        parents: dict[str, set[str]] = {}
        for child, parent in zip(levels[:, level], levels[:, level + 1], strict=True):
            parents.setdefault(child, set()).add(parent)
        assert all(len(p) == 1 for p in parents.values())
    assert len(set(levels[:, -1])) == 1
    assert set(values_as_text(values)) <= set(h.leaves)
    tables, labels = lookup_tables(h), level_labels(h)
    assert len(tables) == len(labels) == h.height + 1
    for level, (table, label) in enumerate(zip(tables, labels, strict=True)):
        assert table.dtype == np.int32 and table.shape == (h.domain_size,)
        assert labels[level].dtype == object
        assert label[table].tolist() == levels[:, level].tolist()
        assert sorted(set(table.tolist())) == list(range(len(label)))
    codes = leaf_codes(h, values)
    assert h.leaves[codes].tolist() == values_as_text(values).tolist()


# --------------------------------------------------------------------------- the Hierarchy table
class TestHierarchy:
    def test_properties(self) -> None:
        h = Hierarchy("sex", np.array([["Male", "*"], ["Female", "*"]]))
        assert h.height == 1
        assert h.domain_size == 2
        assert h.leaves.tolist() == ["Male", "Female"]
        assert h.levels.dtype == object
        assert "sex" in repr(h) and "height=1" in repr(h)

    def test_levels_are_a_read_only_copy(self) -> None:
        source = np.array([["a", "*"], ["b", "*"]], dtype=object)
        h = Hierarchy("x", source)
        source[0, 0] = "changed"
        assert h.leaves[0] == "a"
        with pytest.raises(ValueError):
            h.levels[0, 0] = "z"

    def test_duplicate_leaf_names_value(self) -> None:
        with pytest.raises(ConfigError, match=r"'x'.*leaf 'a' occurs more than once \(rows 1 and 3\)"):
            Hierarchy("x", [["a", "*"], ["b", "*"], ["a", "*"]])

    def test_not_a_tree_names_column_level_value(self) -> None:
        levels = [
            ["1", "low", "T", "*"],
            ["2", "low", "T", "*"],
            ["3", "mid", "A", "*"],
            ["4", "mid", "B", "*"],
        ]
        with pytest.raises(ConfigError, match=r"'age'.*value 'mid' at level 1 generalizes to both 'A' and 'B'"):
            Hierarchy("age", levels)

    def test_height_zero_is_an_error(self) -> None:
        with pytest.raises(ConfigError, match=r"'x'.*height 0"):
            Hierarchy("x", [["a"], ["b"]])

    def test_several_tops_are_an_error(self) -> None:
        with pytest.raises(ConfigError, match=r"'x'.*top level 1 holds 2 values"):
            Hierarchy("x", [["a", "A"], ["b", "B"]])

    def test_shape_and_type_errors(self) -> None:
        with pytest.raises(ConfigError, match="no leaves"):
            Hierarchy("x", np.empty((0, 2), dtype=object))
        with pytest.raises(ConfigError, match=r"table"):
            Hierarchy("x", ["a", "b"])
        with pytest.raises(ConfigError, match=r"row 2, level 0: 3 is not a string"):
            Hierarchy("x", [["a", "*"], [3, "*"]])


# --------------------------------------------------------------------------- file
ADULT_SHAPES = {  # column -> (leaves, height), from data/README.md
    "age": (100, 4),
    "education": (16, 3),
    "marital-status": (7, 2),
    "native-country": (41, 2),
    "occupation": (14, 2),
    "race": (5, 1),
    "salary-class": (2, 1),
    "sex": (2, 1),
    "workclass": (8, 2),
}


class TestFile:
    @pytest.mark.parametrize(("column", "shape"), ADULT_SHAPES.items())
    def test_adult_files(self, column: str, shape: tuple[int, int]) -> None:
        h = read_hierarchy_file(column, str(ADULT / f"adult_hierarchy_{column}.csv"))
        assert (h.domain_size, h.height) == shape
        assert set(h.levels[:, -1]) == {"*"}

    def test_age_rows_in_file_order(self) -> None:
        h = read_hierarchy_file("age", str(ADULT / "adult_hierarchy_age.csv"))
        assert rows(h)[0] == ["1", "0-4", "0-9", "0-19", "*"]
        assert h.leaves.tolist() == [str(i) for i in range(1, 101)]

    def test_adult_data_is_covered_and_domain_is_the_file(self) -> None:
        data = pd.read_csv(ADULT / "adult.csv", sep=";")
        config = JobConfig().with_base_dir(ADULT)
        for column, (leaves, height) in ADULT_SHAPES.items():
            spec = FileHierarchy(type="file", name=f"adult_hierarchy_{column}.csv")
            h = build_hierarchy(column, spec, data[column], config.resolve_path)
            assert (h.domain_size, h.height) == (leaves, height)
            assert_valid(h, data[column])
        age = build_hierarchy(
            "age", FileHierarchy(type="file", name=str(ADULT / "adult_hierarchy_age.csv")), data["age"]
        )
        assert data["age"].nunique() == 72 and age.domain_size == 100

    def test_arx_tiny_crlf_files(self) -> None:
        h = read_hierarchy_file("zipcode", str(ARX_TINY / "test_hierarchy_zipcode.csv"))
        assert (h.domain_size, h.height) == (10_000, 5)
        assert rows(h)[0] == ["80000", "8000*", "800**", "80***", "8****", "*"]
        disease = read_hierarchy_file("Disease", str(ARX_TINY / "test2_hierarchy_Disease.csv"))
        assert disease.height == 3 and disease.levels[0, 0] == "gastric ulcer"

    def test_line_ends_blank_lines_bom_quotes(self, tmp_path: Path) -> None:
        path = tmp_path / "h.csv"
        path.write_bytes('\ufeffa;A;*  \r\n\r\n"b;c";A;*\r\nd;"D ""x""";*\t\r\n\n'.encode())
        h = read_hierarchy_file("x", str(path))
        assert rows(h) == [["a", "A", "*"], ["b;c", "A", "*"], ["d", 'D "x"', "*"]]

    def test_other_separator_and_encoding(self, tmp_path: Path) -> None:
        path = tmp_path / "h.csv"
        path.write_bytes("Zürich,CH,*\nGenève,CH,*\n".encode("latin-1"))
        h = build_hierarchy(
            "city",
            FileHierarchy(type="file", name="h.csv", props={"sep": ",", "encoding": "latin-1"}),
            pd.Series(["Genève"]),
            lambda name: str(tmp_path / name),
        )
        assert h.leaves.tolist() == ["Zürich", "Genève"]
        multi = tmp_path / "m.csv"
        multi.write_text("a::A::*\nb::A::*\n")
        assert rows(read_hierarchy_file("x", str(multi), sep="::")) == [["a", "A", "*"], ["b", "A", "*"]]

    def test_url_is_read_with_fsspec(self) -> None:
        import fsspec  # a dependency of anon_ops.io

        with fsspec.open("memory://hierarchies/sex.csv", "w") as f:
            f.write("Male;*\nFemale;*\n")
        assert read_hierarchy_file("sex", "memory://hierarchies/sex.csv").leaves.tolist() == ["Male", "Female"]

    def test_field_count_mismatch_names_file_and_line(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.csv"
        path.write_text("a;A;*\n\nb;*\n")
        with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}.*'x'.*line 3: 2 field\(s\), expected 3"):
            read_hierarchy_file("x", str(path))

    def test_file_errors(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"nope\.csv.*not found"):
            read_hierarchy_file("x", str(tmp_path / "nope.csv"))
        (tmp_path / "empty.csv").write_text("\n\n")
        with pytest.raises(ConfigError, match=r"empty\.csv.*empty"):
            read_hierarchy_file("x", str(tmp_path / "empty.csv"))
        (tmp_path / "one.csv").write_text("a\nb\n")
        with pytest.raises(ConfigError, match=r"one\.csv.*one field per line"):
            read_hierarchy_file("x", str(tmp_path / "one.csv"))
        (tmp_path / "quote.csv").write_text('"a;A;*\nb;A;*\n')
        with pytest.raises(ConfigError, match=r"quote\.csv.*quoted field"):
            read_hierarchy_file("x", str(tmp_path / "quote.csv"))
        (tmp_path / "latin.csv").write_bytes("é;*\n".encode("latin-1"))
        with pytest.raises(ConfigError, match=r"latin\.csv.*not utf-8.*props\.encoding"):
            read_hierarchy_file("x", str(tmp_path / "latin.csv"))

    def test_invalid_tree_in_file_names_file(self, tmp_path: Path) -> None:
        path = tmp_path / "dup.csv"
        path.write_text("a;A;*\nb;B;*\na;A;*\n")
        with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}.*leaf 'a' occurs more than once"):
            read_hierarchy_file("x", str(path))
        path.write_text("a;A;*\nb;A;T\n")
        with pytest.raises(ConfigError, match=r"dup\.csv.*value 'A' at level 1"):
            read_hierarchy_file("x", str(path))

    def test_uncovered_values_name_column_and_values(self, tmp_path: Path) -> None:
        (tmp_path / "h.csv").write_text("a;*\nb;*\n")
        spec = FileHierarchy(type="file", name=str(tmp_path / "h.csv"))
        with pytest.raises(DataError, match=r"'x': 2 value\(s\) not covered .*h\.csv: 'c', ''.*missing"):
            build_hierarchy("x", spec, pd.Series(["a", "c", None]))
        assert build_hierarchy("x", spec, None).domain_size == 2


# --------------------------------------------------------------------------- interval
class TestInterval:
    def test_levels_labels_and_numeric_order(self) -> None:
        h = build_hierarchy("age", interval(5, 10, 20), pd.Series([39, 7, 12, 39, 100]))
        assert rows(h) == [
            ["7", "[5, 10)", "[0, 10)", "[0, 20)", "*"],
            ["12", "[10, 15)", "[10, 20)", "[0, 20)", "*"],
            ["39", "[35, 40)", "[30, 40)", "[20, 40)", "*"],
            ["100", "[100, 105)", "[100, 110)", "[100, 120)", "*"],
        ]

    def test_start_top_floats_and_negatives(self) -> None:
        h = build_hierarchy("x", interval(2.5, 5, start=1, top="any"), pd.Series([1.0, 3.4, -0.5, 6.25]))
        assert rows(h) == [
            ["-0.5", "[-1.5, 1)", "[-4, 1)", "any"],
            ["1", "[1, 3.5)", "[1, 6)", "any"],
            ["3.4", "[1, 3.5)", "[1, 6)", "any"],
            ["6.25", "[6, 8.5)", "[6, 11)", "any"],
        ]

    def test_fine_widths_nest_without_float_noise(self) -> None:
        values = pd.Series(np.round(np.arange(0, 3, 0.1), 1))
        h = build_hierarchy("x", interval(0.1, 0.2, 0.4), values)
        assert_valid(h, values)
        assert rows(h)[3] == ["0.3", "[0.3, 0.4)", "[0.2, 0.4)", "[0, 0.4)", "*"]

    def test_string_numbers(self) -> None:
        h = build_hierarchy("x", interval(10), pd.Series(["9", "10", "9.0"]))
        assert rows(h) == [["9", "[0, 10)", "*"], ["9.0", "[0, 10)", "*"], ["10", "[10, 20)", "*"]]

    def test_non_numeric_value(self) -> None:
        with pytest.raises(DataError, match=r"'age'.*value 'old' is not a \(finite\) number"):
            build_hierarchy("age", interval(5), pd.Series(["12", "old"]))
        with pytest.raises(DataError, match=r"'age'.*'inf'"):
            build_hierarchy("age", interval(5), pd.Series([1.0, float("inf")]))

    def test_missing_values(self) -> None:
        with pytest.raises(DataError, match=r"column 'age' has missing values.*covers ''"):
            build_hierarchy("age", interval(5), pd.Series([1.0, None, 3.0]))


# --------------------------------------------------------------------------- masking
class TestMasking:
    def test_zip_codes(self) -> None:
        h = build_hierarchy("zip", masking(), pd.Series(["81667", "81675", "53115", "81667"]))
        assert rows(h) == [
            ["53115", "5311*", "531**", "53***", "5****", "*****"],
            ["81667", "8166*", "816**", "81***", "8****", "*****"],
            ["81675", "8167*", "816**", "81***", "8****", "*****"],
        ]

    def test_max_level_mask_char_and_top(self) -> None:
        h = build_hierarchy("zip", masking(max_level=2, mask_char="#"), pd.Series([81667, 52675]))
        assert rows(h) == [["52675", "5267#", "526##", "*"], ["81667", "8166#", "816##", "*"]]
        same = build_hierarchy("zip", masking(max_level=2), pd.Series(["81667", "81668"]))
        assert same.height == 2  # the last level is already one value: no extra top

    def test_values_of_different_lengths(self) -> None:
        values = pd.Series(["ab", "abc", "x", None])
        h = build_hierarchy("code", masking(), values)
        assert rows(h) == [
            ["", "", "", "", "*"],
            ["ab", "a*", "**", "**", "*"],
            ["abc", "ab*", "a**", "***", "*"],
            ["x", "*", "*", "*", "*"],
        ]
        assert_valid(h, values)


# --------------------------------------------------------------------------- date
class TestDate:
    def test_iso_strings_default_levels(self) -> None:
        h = build_hierarchy("d", date(), pd.Series(["2021-03-05", "1989-12-31", "2021-03-05"]))
        assert rows(h) == [
            ["1989-12-31", "1989-12", "1989", "1980-1989", "*"],
            ["2021-03-05", "2021-03", "2021", "2020-2029", "*"],
        ]

    def test_format_and_level_subset(self) -> None:
        h = build_hierarchy(
            "d", date(format="%d/%m/%Y", levels=["year", "decade"]), pd.Series(["05/03/2021", "31/12/1989"])
        )
        assert rows(h) == [["31/12/1989", "1989", "1980-1989", "*"], ["05/03/2021", "2021", "2020-2029", "*"]]

    def test_datetime_column_ignores_format(self) -> None:
        values = pd.Series(pd.to_datetime(["2020-02-01", "2020-02-01 10:30"], format="ISO8601"))
        h = build_hierarchy("d", date(format="%d/%m/%Y", levels=["month"]), values)
        assert rows(h) == [["2020-02-01", "2020-02", "*"], ["2020-02-01 10:30:00", "2020-02", "*"]]
        assert_valid(h, values)
        objects = pd.Series([dt.date(2001, 1, 2), dt.date(1999, 5, 6)])
        assert build_hierarchy("d", date(levels=["year"]), objects).leaves.tolist() == [
            "1999-05-06",
            "2001-01-02",
        ]

    def test_unparseable_value(self) -> None:
        with pytest.raises(DataError, match=r"'d'.*value 'soon' is not a date.*ISO"):
            build_hierarchy("d", date(), pd.Series(["2020-01-01", "soon"]))
        with pytest.raises(DataError, match=r"'d'.*value '2020-01-01' is not a date in format '%d/%m/%Y'"):
            build_hierarchy("d", date(format="%d/%m/%Y"), pd.Series(["2020-01-01"]))

    def test_missing_values(self) -> None:
        with pytest.raises(DataError, match=r"column 'd' has missing values"):
            build_hierarchy("d", date(), pd.Series(["2020-01-01", None]))


# --------------------------------------------------------------------------- tree
class TestTree:
    def test_mapping_in_order(self) -> None:
        spec = tree({"flu": ["respiratory", "*"], "ulcer": ["digestive", "*"], "cold": ["respiratory", "*"]})
        h = build_hierarchy("disease", spec, pd.Series(["cold", "flu"]))
        assert rows(h) == [
            ["flu", "respiratory", "*"],
            ["ulcer", "digestive", "*"],
            ["cold", "respiratory", "*"],
        ]

    def test_lengths_differ_names_leaf(self) -> None:
        with pytest.raises(ConfigError, match=r"'disease'.*params\.mapping.*leaf 'cold' has 1 level\(s\)"):
            build_hierarchy("disease", tree({"flu": ["resp", "*"], "cold": ["*"]}), None)
        with pytest.raises(ConfigError, match=r"leaf 'flu' has no generalizations"):
            build_hierarchy("disease", tree({"flu": []}), None)

    def test_not_a_tree(self) -> None:
        spec = tree({"flu": ["resp", "A"], "cold": ["resp", "B"]})
        with pytest.raises(ConfigError, match=r"'disease'.*value 'resp' at level 1 generalizes.*params\.mapping"):
            build_hierarchy("disease", spec, None)

    def test_uncovered_values(self) -> None:
        with pytest.raises(DataError, match=r"'disease'.*not covered by its tree mapping.*'measles'"):
            build_hierarchy("disease", tree({"flu": ["*"]}), pd.Series(["flu", "measles"]))


# --------------------------------------------------------------------------- auto
class TestAuto:
    def test_numbers_get_nice_doubling_intervals(self) -> None:
        values = pd.Series(range(17, 91))  # range 73 -> 73/20 = 3.65 -> 5
        h = build_hierarchy("age", auto(), values)
        assert rows(h)[0] == ["17", "[15, 20)", "[10, 20)", "[0, 20)", "[0, 40)", "*"]
        assert build_hierarchy("age", auto(max_levels=2), values).height == 3

    def test_small_float_range_and_whole_numbers(self) -> None:
        floats = pd.Series(np.linspace(0, 1, 11))  # 1/20 = 0.05
        assert rows(build_hierarchy("x", auto(max_levels=1), floats))[1] == ["0.1", "[0.1, 0.15)", "*"]
        ints = pd.Series([1, 2, 3])  # 2/20 = 0.1, but whole numbers get width >= 1
        assert rows(build_hierarchy("x", auto(), ints))[0][1] == "[1, 2)"
        constant = build_hierarchy("x", auto(), pd.Series([7.0, 7.0]))
        assert rows(constant) == [["7", "[7, 8)", "*"]]  # one bin holds everything: no more levels

    def test_codes_are_masked(self) -> None:
        h = build_hierarchy("zip", auto(), pd.Series(["81667", "0A123", None]))
        assert rows(h)[1] == ["0A123", "0A12*", "0A1**", "0A***", "0****", "*****", "*"]
        assert_valid(h, pd.Series(["81667", "0A123", None]))

    def test_other_text_is_flat(self) -> None:
        values = pd.Series(["Private", "State-gov", "Private", None])
        assert rows(build_hierarchy("w", auto(), values)) == [["", "*"], ["Private", "*"], ["State-gov", "*"]]
        assert build_hierarchy("b", auto(), pd.Series([True, False])).height == 1

    def test_dates(self) -> None:
        values = pd.Series(pd.to_datetime(["2020-01-15", "1999-07-01"]))
        assert rows(build_hierarchy("d", auto(), values))[0] == [
            "1999-07-01",
            "1999-07",
            "1999",
            "1990-1999",
            "*",
        ]

    def test_numbers_with_missing_values(self) -> None:
        with pytest.raises(DataError, match=r"column 'age' has missing values"):
            build_hierarchy("age", auto(), pd.Series([1.0, np.nan]))


# --------------------------------------------------------------------------- generic errors
def test_generated_hierarchy_needs_data() -> None:
    with pytest.raises(DataError, match=r"'x'.*no values"):
        build_hierarchy("x", masking(), pd.Series([], dtype=object))
    with pytest.raises(DataError, match=r"'x'.*built from the data"):
        build_hierarchy("x", interval(5), None)


def test_only_missing_values_still_give_height_one() -> None:
    assert rows(build_hierarchy("x", masking(), pd.Series([None]))) == [["", ""]]


# --------------------------------------------------------------------------- values_as_text
class TestValuesAsText:
    def test_canonical_forms(self) -> None:
        values = pd.Series(
            [
                "x",
                39,
                39.0,
                0.5,
                1e-7,
                None,
                float("nan"),
                pd.NaT,
                pd.Timestamp("2020-01-02"),
                pd.Timestamp("2020-01-02 03:04:05"),
                dt.date(1999, 1, 2),
                Decimal("4.50"),
                np.float32(0.1),
                np.int16(-3),
            ],
            dtype=object,
        )
        assert values_as_text(values).tolist() == [
            "x", "39", "39", "0.5", "1e-07", "", "", "", "2020-01-02", "2020-01-02 03:04:05",
            "1999-01-02", "4.5", "0.1", "-3",
        ]  # fmt: skip

    def test_typed_columns_keep_index_and_name(self) -> None:
        floats = pd.Series([39.0, np.nan, 2.5], index=[5, 6, 7], name="age")
        text = values_as_text(floats)
        assert text.tolist() == ["39", "", "2.5"] and text.index.tolist() == [5, 6, 7] and text.name == "age"
        assert values_as_text(pd.Series([1, None], dtype="Int64")).tolist() == ["1", ""]
        assert values_as_text(pd.Series([True, False])).tolist() == ["True", "False"]
        assert values_as_text(pd.Series(["a", None], dtype="string")).tolist() == ["a", ""]
        assert values_as_text(pd.Series(["a", None, "a"], dtype="category")).tolist() == ["a", "", "a"]
        times = pd.Series(pd.to_datetime(["2020-01-02", None, "2020-01-02 00:00:01"], format="ISO8601"))
        assert values_as_text(times).tolist() == ["2020-01-02", "", "2020-01-02 00:00:01"]
        assert values_as_text(pd.Series([2**40, -1])).tolist() == ["1099511627776", "-1"]
        assert all(type(v) is str for v in values_as_text(pd.Series([1.5, 2.0])))
        assert values_as_text(pd.Series([1e18, 1e20])).tolist() == [
            "1000000000000000000",
            "1e+20",
        ]
        assert values_as_text(pd.Series([1e18, 1e20], dtype=object)).tolist() == [
            "1000000000000000000",
            "1e+20",
        ]
        aware = pd.Series(pd.to_datetime(["2020-01-02 00:00", "2020-01-02 05:30"]).tz_localize("UTC"))
        assert values_as_text(aware).tolist() == ["2020-01-02", "2020-01-02 05:30:00+00:00"]


# --------------------------------------------------------------------------- encoding
def test_lookup_tables_and_labels() -> None:
    h = read_hierarchy_file("workclass", str(ADULT / "adult_hierarchy_workclass.csv"))
    tables, labels = lookup_tables(h), level_labels(h)
    assert tables[0].tolist() == list(range(8))
    assert labels[1].tolist() == ["Non-Government", "Government", "Unemployed"]
    assert tables[1].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert labels[1][tables[1]].tolist() == h.levels[:, 1].tolist()
    assert labels[-1].tolist() == ["*"] and tables[-1].tolist() == [0] * 8


def test_leaf_codes_uncovered() -> None:
    h = Hierarchy("x", [["a", "*"], ["b", "*"]])
    assert leaf_codes(h, pd.Series(["b", "a", "b"])).tolist() == [1, 0, 1]
    with pytest.raises(DataError, match=r"'x': 2 value\(s\) not covered by its hierarchy: 'z', ''"):
        leaf_codes(h, pd.Series(["a", None, "z"]))


def test_strings_with_nul_characters_stay_distinct() -> None:
    """pandas < 3.1 hashes object strings up to the first NUL (pandas-dev/pandas#34551)."""
    h = Hierarchy("x", [["", "A", "*"], ["\x00", "B", "*"], ["a", "A", "*"], ["a\x00b", "B", "*"]])
    assert [t.tolist() for t in lookup_tables(h)] == [[0, 1, 2, 3], [0, 1, 0, 1], [0, 0, 0, 0]]
    assert leaf_codes(h, pd.Series(["a\x00b", "a", "\x00", ""])).tolist() == [3, 2, 1, 0]
    assert values_as_text(pd.Series(["a", "a\x00b"])).tolist() == ["a", "a\x00b"]
    assert Hierarchy("x", [["a", "*"], ["a\x00", "*"]]).domain_size == 2
    with pytest.raises(ConfigError, match=r"leaf 'a\\x00' occurs more than once \(rows 2 and 3\)"):
        Hierarchy("x", [["a", "*"], ["a\x00", "*"], ["a\x00", "*"]])
    with pytest.raises(ConfigError, match=r"value 'A' at level 1 generalizes to both 'T' and 'T\\x00'"):
        Hierarchy("x", [["", "A", "T", "*"], ["\x00", "A", "T\x00", "*"]])


# --------------------------------------------------------------------------- random data
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bounds(label: str) -> tuple[float, float]:
    low, high = label[1:-1].split(", ")
    return float(low), float(high)


@PROPERTY
@given(
    values=st.lists(st.integers(-10_000, 10_000) | st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    widths=st.lists(st.integers(2, 4), min_size=0, max_size=3),
    base=st.sampled_from([0.1, 0.5, 1, 3, 25]),
    start=st.sampled_from([None, 0, 1.5, -7]),
)
def test_random_intervals_are_valid_and_contain_their_values(
    values: list[float], widths: list[int], base: float, start: float | None
) -> None:
    intervals = [base]
    for factor in widths:
        intervals.append(intervals[-1] * factor)
    data = pd.Series(values, dtype=object)
    h = build_hierarchy("x", interval(*intervals, start=start), data)
    assert_valid(h, data)
    assert h.height == len(intervals) + 1
    numbers = np.array([float(t) for t in h.leaves])
    assert (np.diff(numbers) >= 0).all()
    for level, width in enumerate(intervals, start=1):
        for x, label in zip(numbers, h.levels[:, level], strict=True):
            low, high = _bounds(label)
            tolerance = 1e-9 * max(1.0, abs(x))
            assert low - tolerance <= x < high + tolerance
            assert abs((high - low) - width) <= 1e-6 * max(1.0, abs(x))


@PROPERTY
@given(
    values=st.lists(st.text(alphabet="ab*1\x00", max_size=6) | st.none(), min_size=1, max_size=40),
    max_level=st.none() | st.integers(1, 8),
)
def test_random_masking_is_valid(values: list[str | None], max_level: int | None) -> None:
    data = pd.Series(values, dtype=object)
    h = build_hierarchy("x", masking(max_level=max_level), data)
    assert_valid(h, data)


@PROPERTY
@given(
    values=st.lists(
        st.integers(-500, 500)
        | st.floats(-1e3, 1e3, allow_nan=False)
        | st.text(alphabet="xyz09 -", max_size=5)
        | st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
        min_size=1,
        max_size=40,
    ),
    max_levels=st.integers(1, 6),
)
def test_random_auto_is_valid(values: list[object], max_levels: int) -> None:
    data = pd.Series(values, dtype=object)
    h = build_hierarchy("x", auto(max_levels=max_levels), data)
    assert_valid(h, data)


@PROPERTY
@given(st.lists(st.dates(min_value=dt.date(1, 1, 1)), min_size=1, max_size=40))
def test_random_dates_are_valid(values: list[dt.date]) -> None:
    data = pd.Series([d.isoformat() for d in values])
    h = build_hierarchy("d", date(), data)
    assert_valid(h, data)
    assert h.leaves.tolist() == sorted(set(data))


@PROPERTY
@given(st.dictionaries(st.text(max_size=4), st.sampled_from(["A", "B", "C"]), min_size=1, max_size=20))
def test_random_trees_are_valid(parents: dict[str, str]) -> None:
    mapping = {leaf: [parent, "*"] for leaf, parent in parents.items()}
    data = pd.Series(list(parents))
    h = build_hierarchy("x", tree(mapping), data)
    assert_valid(h, data)
    assert h.leaves.tolist() == list(parents)
