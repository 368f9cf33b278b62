"""Run a Python program with every slow garbage collection logged to stderr.

    python bench/gclog.py PROGRAM [ARGS...]      e.g.  python bench/gclog.py .venv/bin/hub serve

bench/fanout.py --gc-log starts the servers this way; it changes nothing in the program but
adds a gc callback (a few microseconds per collection).
"""

from __future__ import annotations

import gc
import runpy
import sys
import time

THRESHOLD_S = 0.02


def install(threshold_s: float = THRESHOLD_S) -> None:
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took >= threshold_s:
            # counting tracked objects costs ~10 ms per million: only after full collections
            tracked = len(gc.get_objects()) if info["generation"] == 2 else -1
            print(
                f"gc gen{info['generation']} {took * 1000:.0f} ms at {time.time():.3f}"
                f" collected={info['collected']} tracked={tracked}",
                file=sys.stderr,
                flush=True,
            )

    gc.callbacks.append(callback)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    install()
    program = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
