"""stop_tree ends what a test started even when a process left the group and ignores SIGTERM (as honcho's do)."""

import subprocess
import sys

from tests.process_tree import _status, descendants, stop_tree
from tests.waiting import wait_for

# A parent that starts a child in a session of its own; the child ignores SIGTERM and starts a grandchild
# in its group, as a Celery prefork worker under honcho does.
STUBBORN = """
import subprocess, sys, time
child = '''
import signal, subprocess, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen(["sleep", "600"])
time.sleep(600)
'''
subprocess.Popen([sys.executable, "-c", child], start_new_session=True)
time.sleep(600)
"""


def test_a_process_in_a_session_of_its_own_that_ignores_sigterm_is_killed_with_its_children():
    parent = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
    try:
        wait_for(lambda: len(descendants(parent.pid)) == 2, 20, "the child and grandchild to start")
        tree = descendants(parent.pid)
        assert len({_status(pid)[1] for pid in tree}) == 1 and _status(tree[0])[1] != parent.pid
    finally:
        stop_tree(parent, grace=0.5)
    assert parent.returncode is not None
    assert all(_status(pid) is None or _status(pid)[2] == "Z" for pid in tree)
