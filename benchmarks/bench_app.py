"""App start-up: time from a fresh interpreter to the first frame, as `whyscope` starts (guided mode, example data).

Run:  .venv/bin/python benchmarks/bench_app.py      (also part of `python3 dev.py bench`)
Target (issue 5): <= 0.5 s to the first frame.
Data: the bundled example (12,000 rows CSV), attached by a worker after the first frame.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

PROBE = r"""
import time
started = time.perf_counter()
from assistant.config import load_settings
from assistant.launch import prepare
from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.assistant_message import AssistantMessage

def launcher(say):
    return prepare(load_settings(offline=True), [], False, say, with_example=True)

app = WhyscopeApp(launcher=launcher)

async def measure(pilot):
    for _ in range(1000):
        await pilot.pause(0.01)
        if list(app.query(AssistantMessage)):
            break
    # first_frame_at is stamped by the app right after its first refresh; the rest runs in a worker
    print(f"{app.first_frame_at - started:.4f} {time.perf_counter() - started:.4f}")
    app.exit()

app.run(headless=True, size=(120, 40), auto_pilot=measure)
"""


def main() -> None:
    runs = []
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "WHYSCOPE_HOME": home}
        env.pop("OPENAI_API_KEY", None)
        for _ in range(5):
            out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
            prepared, frame = map(float, out.stdout.split()[-2:])
            runs.append((prepared, frame))
    prepared = statistics.median(r[0] for r in runs)
    frame = statistics.median(r[1] for r in runs)
    print("app start-up (guided mode, example data attached), median of 5 fresh processes")
    print(f"  to the first frame                          {prepared:.3f} s   target <= 0.5 s")
    print(f"  to ready (data attached, first question)    {frame:.3f} s")


if __name__ == "__main__":
    main()
