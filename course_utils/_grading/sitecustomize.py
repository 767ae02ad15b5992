"""Imported by every notebook kernel that :mod:`course_utils.grade` starts.

``course_utils.grade`` puts this folder first on the kernel's ``PYTHONPATH``.
What it does depends on two environment variables, so importing it anywhere
else changes nothing:

* ``COURSE_OFFLINE=1``: block every connection that is not to this machine
  (``course_utils.offline``, the blocker of the test suite too; the kernel's
  own loopback sockets still work).
* ``COURSE_GRADING_SANDBOX=DIR``: an audit hook (:func:`sys.addaudithook`)
  raises ``PermissionError`` when the submission tries to write, create,
  delete, rename or change anything outside ``DIR`` (its throw-away folder,
  which holds its ``HOME`` and ``TMPDIR`` too), or to run another program
  that is not Python (Python children import this file as well). Each
  attempt is also appended to ``DIR/.grading-violations`` so the grader can
  report it even when the submission catches the exception.

This guards against accidents and casual misuse, not against hostile code:
``ctypes`` can get around any audit hook. Grade untrusted code in a
container as well.
"""

from __future__ import annotations

import os
import sys
import threading

if os.environ.get("COURSE_OFFLINE") == "1":
    from course_utils.offline import block_network

    block_network("while grading")


_SANDBOX = os.environ.get("COURSE_GRADING_SANDBOX")

if _SANDBOX:
    _ROOT = os.path.realpath(_SANDBOX)
    _LOG = os.path.join(_ROOT, ".grading-violations")
    _ALLOWED_FILES = {os.devnull}
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    # audit event -> positions of the paths it changes (see the audit events table)
    _CHANGES = {
        "os.mkdir": (0,),
        "os.remove": (0,),
        "os.rmdir": (0,),
        "os.rename": (0, 1),  # also os.replace
        "os.link": (1,),
        "os.symlink": (1,),
        "os.truncate": (0,),
        "os.chmod": (0,),
        "os.chown": (0,),
        "os.utime": (0,),
        "os.chflags": (0,),
        "os.setxattr": (0,),
        "os.removexattr": (0,),
        "shutil.rmtree": (0,),
        "shutil.copyfile": (1,),
        "shutil.copytree": (1,),
        "shutil.move": (0, 1),
        "shutil.unpack_archive": (1,),
    }
    _PROGRAMS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn")
    # read-only probes that libraries run on their own (platform.processor(),
    # matplotlib's font list, torch's CPU/GPU detection): allowed
    _PROBES = {"uname", "fc-list", "fc-match", "ldconfig", "lscpu", "nproc", "getconf", "nvidia-smi"}
    _state = threading.local()  # not re-entered from its own file operations

    def _dir_of_fd(dir_fd: object) -> str | None:
        if not isinstance(dir_fd, int):
            return None
        try:
            return os.readlink(f"/proc/self/fd/{dir_fd}")
        except OSError:
            return None

    def _outside(path: object, dir_fd: object = None) -> str | None:
        """The absolute path if ``path`` lies outside the sandbox, else None."""
        if isinstance(path, int) or path is None:  # an open file descriptor
            return None
        try:
            name = os.fsdecode(path)
        except TypeError:
            return None
        relative_to_fd = isinstance(dir_fd, int) and dir_fd >= 0  # the events say -1 for none
        base = _dir_of_fd(dir_fd) if relative_to_fd else os.getcwd()
        if base is None:
            return None
        full = os.path.realpath(os.path.join(base, name))
        if full in _ALLOWED_FILES or full == _ROOT or full.startswith(_ROOT + os.sep):
            return None
        return full

    def _refuse(what: str) -> None:
        try:
            fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (what.replace("\n", " ") + "\n").encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            pass
        raise PermissionError(f"blocked while grading: a submission may not {what}")

    def _harmless(executable: object, args: object) -> bool:
        """Python (its children import this file too) or one of the read-only probes."""
        program = executable if executable is not None else args
        if isinstance(program, list | tuple):
            program = program[0] if program else None
        if not isinstance(program, str | bytes | os.PathLike):
            return False  # a shell command line
        path = os.fsdecode(program)
        name = os.path.basename(path)
        python = name.startswith("python") or os.path.realpath(path) == os.path.realpath(sys.executable)
        return python or name in _PROBES

    def _audit(event: str, args: tuple) -> None:
        if getattr(_state, "busy", False):
            return
        _state.busy = True
        try:
            if event == "open":
                path, mode, flags = args
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
                )
                where = _outside(path) if writes else None
                if where:
                    _refuse(f"write outside its folder: {where}")
            elif event in _CHANGES:
                dir_fd = args[-1] if event in ("os.mkdir", "os.remove", "os.rmdir") else None
                for i in _CHANGES[event]:
                    if i < len(args):
                        where = _outside(args[i], dir_fd)
                        if where:
                            _refuse(f"change files outside its folder ({event}): {where}")
            elif event in _PROGRAMS:
                if event == "subprocess.Popen" and _harmless(args[0], args[1]):
                    return
                shown = args[1] if event == "subprocess.Popen" else args[0]
                _refuse(f"run another program ({event}): {shown!r}"[:300])
        finally:
            _state.busy = False

    sys.addaudithook(_audit)
