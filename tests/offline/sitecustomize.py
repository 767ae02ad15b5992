"""Block network access from every Python process of the test suite.

``make test`` puts this folder on ``PYTHONPATH`` and sets ``COURSE_OFFLINE=1``,
so pytest, its xdist workers and every notebook kernel nbval starts import it.
Connections to loopback addresses (the kernels' own sockets, the JupyterLab
server of the browser test) still work; anything else raises, so a run-time
download can never sneak into the course. The blocker itself is
``course_utils.offline`` (the grader's kernels use it too).
"""

from __future__ import annotations

import os

if os.environ.get("COURSE_OFFLINE") == "1":
    from course_utils.offline import block_network

    block_network("during the tests")
