"""Run a command and print its own peak RSS, and the peaks of its anonymous and file-backed parts (kB):
`python -m benchmarks.peak_rss <command...>` prints "<peak RSS> <peak RssAnon> <peak RssFile>".

Linux carries a process's peak RSS across exec, and a child started from a large process (subprocess
starts children with vfork) begins with its parent's peak. Measured straight from the benchmark's
process, after rows that narrate inside it (B1, B4, B5 grow it to about 280 MB), every command
"peaked" at the benchmark's own size: a full `make bench` reported both B3 books at 284 MB, and
`--only B3` at 177 and 193 MB. This launcher is a few MB, so the peak it reports is the command's.

The parts are sampled every 5 ms because RSS counts the pages of shared libraries the process maps,
and how many of those it maps depends on the page cache: in a fresh clone, whose just-installed
libraries are all cached, a 20-hour narration peaked at 56 MB of them, against 40 MB in a checkout
whose libraries had partly left the cache, with the same 151 MB of its own (anonymous) memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

SAMPLE_SECONDS = 0.005


def _sample_peaks(pid: int, peaks: dict[str, int], done: threading.Event) -> None:
    while not done.is_set():
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith(("RssAnon:", "RssFile:")):
                        name, value = line.split()[:2]
                        peaks[name] = max(peaks.get(name, 0), int(value))
        except (OSError, ValueError):
            pass  # gone, or not Linux
        done.wait(SAMPLE_SECONDS)


def main() -> int:
    command = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    peaks: dict[str, int] = {}
    done = threading.Event()
    sampler = threading.Thread(target=_sample_peaks, args=(command.pid, peaks, done), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(command.pid, 0)
    done.set()
    sampler.join()
    print(usage.ru_maxrss, peaks.get("RssAnon:", 0), peaks.get("RssFile:", 0))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
