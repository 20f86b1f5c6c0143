"""Short spoken clips (2-5 s of espeak-ng speech in an mp4) for the soak's transcriptions:
short enough that one Whisper worker on a shared 2-core machine keeps up with the load."""

from __future__ import annotations

import subprocess
from pathlib import Path

SENTENCES = (
    "The relay publishes every committed job exactly once.",
    "A worker died in the middle of a task and nothing was lost.",
    "The broker came back and the backlog drained in seconds.",
    "Cycling in Copenhagen is faster than driving a car.",
    "Postgres restarted while the summaries were being written.",
    "Every job ends in a state that the API can show.",
)


def make_clips(directory: Path) -> list[str]:
    """Write one ``clip-N.mp4`` per sentence into ``directory``; return the file names."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for n, sentence in enumerate(SENTENCES):
        wav, mp4 = directory / f"clip-{n}.wav", directory / f"clip-{n}.mp4"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), sentence], check=True)
        subprocess.run(
            [
                *("ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav)),
                *("-c:a", "aac", "-b:a", "64k", str(mp4)),
            ],
            check=True,
        )
        wav.unlink()
        names.append(mp4.name)
    return names
