#!/usr/bin/env python3
"""Turns pip's output (stdin) into progress a person can read.

make's first-time set-up runs `pip install` for about a minute and a half;
this prints how many packages were collected of the total that
requirements.lock pins, the rate, and the time left, every ten packages. Every
line of pip's output also goes to the log file named by the second argument,
and any line of an error is shown as it comes.

    pip install … | scripts/venv-progress.py <total> <log file>
"""

import sys
import time


def main() -> None:
    total, log_path = int(sys.argv[1]), sys.argv[2]
    start = time.monotonic()
    collected = 0
    with open(log_path, "w", encoding="utf-8") as log:
        for line in sys.stdin:
            log.write(line)
            line = line.rstrip()
            if line.startswith("Collecting "):
                collected += 1
                if collected == 1 or collected % 10 == 0:
                    elapsed = max(time.monotonic() - start, 1e-3)
                    rate = collected / elapsed
                    left = max(total - collected, 0) / rate
                    print(f"  … {collected} of {total} packages collected ({100 * collected // total}%),"
                          f" {rate:.1f} packages/s, about {left:.0f}s left to collect", flush=True)
            elif line.startswith("Installing collected packages"):
                print(f"  … installing {collected} packages ({time.monotonic() - start:.0f}s so far)", flush=True)
            elif "ERROR" in line or line.startswith("error"):
                print(line, flush=True)
    print(f"  set up in {time.monotonic() - start:.0f}s (pip's output: {log_path})", flush=True)


if __name__ == "__main__":
    main()
