"""Run a command and print its own peak RSS (kB): `python -m benchmarks.peak_rss <command...>`.

Linux carries a process's peak RSS across exec, and a child started from a large process (subprocess
starts children with vfork) begins with its parent's peak. Measured straight from the benchmark's
process, after rows that narrate inside it (B1, B4, B5 grow it to about 280 MB), every command
"peaked" at the benchmark's own size: a full `make bench` reported both B3 books at 284 MB, and
`--only B3` at 177 and 193 MB. This launcher is a few MB, so the peak it reports is the command's.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> int:
    command = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(command.pid, 0)
    print(usage.ru_maxrss)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
