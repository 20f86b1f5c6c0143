"""ffmpeg log parsing and the loudness gain: pure functions of the AudioProcessor."""

from __future__ import annotations

import pytest

from bookmarkai_ml.domain.audio_chunks import Interval
from bookmarkai_ml.media.audio import normalising_gain, parse_loudness, parse_silences

LOG = """
[silencedetect @ 0x1] silence_start: 0
[silencedetect @ 0x1] silence_end: 1.5 | silence_duration: 1.5
size=  10kB time=00:00:10.00
[silencedetect @ 0x1] silence_start: 7.25
[Parsed_ebur128_3 @ 0x2] Summary:

  Integrated loudness:
    I:         -20.6 LUFS
    Threshold: -30.9 LUFS

  True peak:
    Peak:       -1.8 dBFS
"""


def test_silences_are_parsed_and_an_open_one_runs_to_the_end() -> None:
    assert parse_silences(LOG, 10.0) == [Interval(0, 1.5), Interval(7.25, 10.0)]
    assert parse_silences("", 5.0) == []


def test_loudness_summary_is_parsed() -> None:
    assert parse_loudness(LOG) == (-20.6, -1.8)
    assert parse_loudness("nothing here") == (None, None)
    silent = "Integrated loudness:\n    I:         -70.0 LUFS\n  True peak:\n    Peak:  -inf dBFS"
    assert parse_loudness(silent) == (-70.0, float("-inf"))


@pytest.mark.parametrize(
    ("loudness", "peak", "gain"),
    [
        (-30.0, -10.0, 7.0),  # quiet: up to the target
        (-20.6, -1.8, -2.4),  # loud: down to the target
        (-40.0, -3.0, 2.0),  # the true-peak ceiling limits the gain
        (-70.0, float("-inf"), 0.0),  # silence is never amplified
        (None, None, 0.0),  # unmeasured
        (-23.05, -5.0, 0.0),  # close enough: no rewrite
    ],
)
def test_gain_reaches_the_target_under_the_peak_ceiling(
    loudness: float | None, peak: float | None, gain: float
) -> None:
    got = normalising_gain(loudness, peak, target_lufs=-23, ceiling_db=-1, max_gain_db=30)
    assert got == pytest.approx(gain)
