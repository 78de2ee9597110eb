"""Ending every process a test started, including those that left its process group.

honcho (``make run``) starts each of its processes in a session of its own, and a Celery prefork worker's
children follow their parent's group: signalling the group the test started reaches honcho and make only.
So the tree is read from /proc before stopping, and the groups of every process in it are ended if the
graceful stop does not finish within its deadline.
"""

import os
import signal
import time
from pathlib import Path


def _status(pid):
    """(parent pid, process group, state) of a live process, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), int(fields[2]), fields[0]


def _table():
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (status := _status(int(entry.name))) is not None:
            table[int(entry.name)] = status
    return table


def descendants(pid):
    """Every live process below ``pid``, however deep."""
    children = {}
    for child, (parent, _, _) in _table().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _alive_in(groups):
    """Processes still running (zombies are done) in any of ``groups``."""
    return [pid for pid, (_, group, state) in _table().items() if group in groups and state != "Z"]


def stop_tree(process, grace=20):
    """SIGTERM ``process``'s group (it was started with ``start_new_session``), wait up to ``grace`` seconds
    for it and every descendant it had, then SIGKILL every group they were in."""
    groups = {process.pid}  # start_new_session: its own group
    for pid in descendants(process.pid):
        if (status := _status(pid)) is not None:
            groups.add(status[1])
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()  # reaps make, which is this process's child
        if not _alive_in(groups):
            break
        time.sleep(0.1)
    # Only groups with a live member: a group id is not reused while a process is in it.
    groups = {group for group in groups if _alive_in({group})}
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(10)
    deadline = time.monotonic() + 10
    while (left := _alive_in(groups)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes {left} survived SIGKILL"
