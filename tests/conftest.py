"""Shared test settings.

The course's models are tiny: on one CPU thread they run as fast as on two,
and with pytest-xdist's two workers on two cores, two threads each would
oversubscribe the machine and make tests 10-30x slower. The notebooks do the
same through ``course_utils.setup()``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests never open windows

import torch  # noqa: E402

torch.set_num_threads(1)
