"""A --reload-cmd for tests: stop the LiteLLM proxy in PIDFILE, start it on DIR/config.yaml.

LiteLLM's config-file mode reads its config at start, so reloading is a restart.
Usage: restart_litellm.py LITELLM PIDFILE DIR PORT LOG
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

binary, pidfile, directory, port, log = sys.argv[1:6]
pid_path = Path(pidfile)
if pid_path.exists():
    old = int(pid_path.read_text())
    try:
        os.kill(old, signal.SIGTERM)
        for _ in range(100):
            os.kill(old, 0)
            time.sleep(0.1)
    except ProcessLookupError:
        pass
with open(log, "a") as out:
    process = subprocess.Popen(
        [binary, "--config", f"{directory}/config.yaml", "--host", "127.0.0.1", "--port", port],
        cwd=directory,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
pid_path.write_text(str(process.pid))
