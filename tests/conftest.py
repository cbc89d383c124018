"""Shared test set-up.

The unit tests run tiny tensors: one torch thread is as fast as two for them, and it keeps the
tests quick when pytest shares the machine's two cores with a notebook or a grading kernel
(two OpenMP threads on a busy core wait for each other at every op, measured 70x slower).
"""

import torch

torch.set_num_threads(1)

# The sample submissions are notebooks that students might hand in (one loops forever, one kills
# its kernel): the autograder runs them (tests/test_grader_roundtrip.py), nbval must not.
collect_ignore = ["submissions"]
