"""The past-pairs CSV: mentee_id,mentor_id,round, with line-numbered errors."""

from __future__ import annotations

from bot.domain.matching import PastPair
from bot.domain.pair_history import pair_history_csv, parse_pair_history, read_pair_history


def errors(text: str) -> list[str]:
    return [str(e) for e in parse_pair_history(text).errors]


def test_reads_pairs_in_any_column_order_and_normalises_ids():
    result = parse_pair_history("round,mentor_id,mentee_id\n1,U0MENTOR,u0mentee\n2,U0OTHER,U0MENTEE\n")
    assert result.ok
    assert result.pairs == [PastPair("U0MENTEE", "U0MENTOR", 1), PastPair("U0MENTEE", "U0OTHER", 2)]
    assert result.last_round == 2


def test_round_trip_through_the_writer():
    pairs = [PastPair("U01", "U02", 1), PastPair("U03", "U02", 1), PastPair("U01", "U04", 3)]
    assert parse_pair_history(pair_history_csv(pairs)).pairs == pairs


def test_blank_lines_are_skipped_but_still_counted():
    result = parse_pair_history("mentee_id,mentor_id,round\n\nU01,U02,x\n")
    assert [str(e) for e in result.errors] == ["line 3: round must be a whole number, got 'x'"]


def test_header_problems_are_line_one():
    assert errors("") == ["line 1: the file is empty; expected the header mentee_id,mentor_id,round"]
    assert errors("mentee,mentor_id,round,notes\n") == [
        "line 1: missing column(s) mentee_id; unknown column(s) mentee, notes"
    ]
    assert errors("mentee_id,mentor_id,round,round\n") == ["line 1: repeated column(s) round"]


def test_each_bad_row_is_reported_with_its_line():
    text = "\n".join(
        [
            "mentee_id,mentor_id,round",
            "U01,U02,1",
            "U01,U02",
            "bob,U02,1",
            "U03,U04,0",
            "U05,U05,2",
            "U01,U02,1",
            "U01,U06,1",
            "U07,U08,1.5",
        ]
    )
    assert errors(text) == [
        "line 3: expected 3 fields, found 2",
        "line 4: mentee_id 'bob' is not a Slack user ID (like U012ABCDEF)",
        "line 5: round must be 1 or more, got 0",
        "line 6: U05 is both mentee and mentor",
        "line 7: repeats line 2",
        "line 8: U01 already has mentor U02 in round 1 (line 2); a mentee has one mentor a round",
        "line 9: round must be a whole number, got '1.5'",
    ]
    assert parse_pair_history(text).pairs == [PastPair("U01", "U02", 1)]


def test_unreadable_files(tmp_path):
    missing = read_pair_history(tmp_path / "nope.csv")
    assert missing.errors[0].line == 0 and "cannot read" in str(missing.errors[0])
    binary = tmp_path / "history.csv"
    binary.write_bytes(b"mentee_id,mentor_id,round\n\xff\xfe,U02,1\n")
    assert str(read_pair_history(binary).errors[0]) == "the file is not UTF-8 text (save it as 'CSV UTF-8')"


def test_excel_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "history.csv"
    path.write_bytes("\ufeffmentee_id,mentor_id,round\r\nU01,U02,4\r\n".encode("utf-8"))
    assert read_pair_history(path).pairs == [PastPair("U01", "U02", 4)]
