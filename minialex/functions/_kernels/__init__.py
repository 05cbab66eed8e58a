"""The machinery behind conv2d, max_pool2d and local_response_norm: how
their maths (in ``minialex/functions/<op>.py``) is made fast. One module
per implementation ("path"), each opening with why it is faster and the
measurement that justified it; :mod:`.paths` is the table that says which
path runs when.

- :mod:`.paths`: the path table, ``paths.choose`` and ``paths.use``.
- :mod:`.im2col_cpu`: conv2d's im2col/col2im on an image-last layout.
- :mod:`.im2col_chunks`: the same im2col convolution a chunk of images at a
  time, each thread its own chunks (stride-1 windows on NumPy).
- :mod:`.winograd`: conv2d's 3x3 stride-1 windows by Winograd F(m x m, 3x3),
  the F(2x2) path; :mod:`.winograd_f3x3` the F(3x3) one and
  :mod:`.winograd_f2x2_5x5` F(2x2, 5x5) for 5x5 windows (both forced only,
  for now); :mod:`.winograd_matrices` builds their matrices from the points.
- :mod:`.pool_phases`, :mod:`.pool_planes_last`: max-pooling's two CPU
  forward paths; :mod:`.pool_scatter`: its backward (one scatter-add).
- :mod:`.lrn_window`: LRN's sliding window sums over channels.
"""
