"""toylib: the small library of the causal-conv course.

Each concept is first written inline in its lecture; once taught, later notebooks import it from
here. Modules are small and flat:

- ``toylib.config``  fast mode and the notebooks' setup (seed, threads).
- ``toylib.layers``  ``CausalConv1d``: a causal 1D convolution built with ``F.pad``.
- ``toylib.checks``  dependency maps, ``assert_causal``, receptive fields (formula and measured).
- ``toylib.data``    the toy sequences of the course.
- ``toylib.models``  the small causal 1D net of lecture 02.
- ``toylib.train``   training loop and evaluation (NLL in nats and bits per position).
- ``toylib.sample``  the synthesis loop.
- ``toylib.exercise`` ``@probe`` and the plain data that exercises' test cells exchange with the
  student's code (how the grader keeps judging out of the student's process).
"""

__version__ = "0.1.0"
