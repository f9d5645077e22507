"""A progress bar on stderr while the demo's weeks go by.

On a terminal the bar is redrawn in place, and transcript lines are printed above it.
Anywhere else (a pipe, a log file, a test) a plain line is written at every tenth of
the way instead, so no control characters end up in the output.
"""

from __future__ import annotations

from typing import TextIO

WIDTH = 30
PLAIN_STEPS = 10


class Progress:
    def __init__(self, stream: TextIO, *, interactive: bool | None = None):
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self._shown = ""
        self._plain_step = -1

    def update(self, fraction: float, label: str) -> None:
        fraction = min(1.0, max(0.0, fraction))
        if not self.interactive:
            step = int(fraction * PLAIN_STEPS)
            if step > self._plain_step:
                self._plain_step = step
                self.stream.write(f"progress: {fraction:4.0%} {label}\n")
                self.stream.flush()
            return
        filled = round(fraction * WIDTH)
        bar = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%} {label}"
        if bar != self._shown:  # simulated time jumps, so redraw on change rather than on a real-time clock
            self._draw(bar)

    def print_above(self, line: str, out: TextIO) -> None:
        """Print a line of output without tearing the bar."""
        bar = self._shown
        if bar:
            self._draw("")
        out.write(line + "\n")
        out.flush()
        if bar:
            self._draw(bar)

    def close(self) -> None:
        if self._shown:
            self._draw("")

    def _draw(self, text: str) -> None:
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._shown = text
