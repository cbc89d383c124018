"""toylib: the small library of the causal-conv course.

Each concept is first written inline in its lecture; once taught, later notebooks import it from
here. Modules are small and flat:

- ``toylib.config``  fast mode and the notebooks' setup (seed, threads).
- ``toylib.layers``  ``CausalConv1d``: a causal 1D convolution built with ``F.pad``.
- ``toylib.checks``  dependency maps, ``assert_causal``, receptive fields (formula and measured).
- ``toylib.checks2d`` the same for images, in raster order: ``dependency_map_2d``,
  ``assert_causal_2d``, ``blind_spot`` (also importable from ``toylib.checks``).
- ``toylib.data``    the toy sequences of the course.
- ``toylib.masked``  the masked-input model of lecture 01: ``masked_input``, training, sampling.
- ``toylib.blocks``  dilated stacks, ``causal_pool1d``, the TCN and WaveNet blocks (lecture 03).
- ``toylib.models``  the course's causal 1D nets (lecture 02's, and lecture 03's dilated ones).
- ``toylib.text``    real text that ships with Python (``pydoc_data``), as character tokens.
- ``toylib.images``  the 8x8 digits scikit-learn ships (fixed split); optional binarised MNIST.
- ``toylib.pixelcnn`` masks A and B, the masked stack (blind spot), the two-stack PixelCNN built
  with ``F.pad``, ``binary_positional_encoding`` (lecture 04).
- ``toylib.plots``   the stack picture, drawn from measured dependency maps.
- ``toylib.train``   training loop and evaluation (NLL in nats and bits per position or image).
- ``toylib.sample``  the synthesis loops: naive, receptive-field window and cached (sequences;
  images in raster order, naive or with the vertical stack computed once per row).
- ``toylib.streaming`` cached inference: each causal convolution keeps a queue of the (k-1)d
  inputs it reads, so a new step costs O(layers) (Paine et al., 2016; lecture 03b).
- ``toylib.sequences`` next-item prediction (lecture 05): a sessions data set, mean-pooling, LSTM
  and causal CNN encoders, MRR and hit rate.
- ``toylib.longconv`` causal convolutions inside today's sequence models (lecture 06): long
  filters by FFT (zero-padded, and the circular bug), Mamba's short convolution with its decode
  state and packed sequences (``seq_idx``), RWKV's token shift.
- ``toylib.exercise`` ``@probe`` and the plain data that exercises' test cells exchange with the
  student's code (how the grader keeps judging out of the student's process).
"""

__version__ = "0.1.0"
