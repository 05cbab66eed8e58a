"""max_pool2d's backward on the array paths (``phases``, ``planes_last``):
one scatter-add of the output gradient onto the recorded argmax, and the
argmax code both forward paths write.

The argmax code of an output is the position ``i*Wp + j`` of its maximum
inside its window (kernel offset (i, j), Wp the padded width), so the flat
index of that input in the padded (N, C, Hp, Wp) array is

    plane start + window corner + code
    = (n*C + c)*Hp*Wp + (oy*sh)*Wp + ox*sw + code.

Why this is fast: the code fits in uint8 for 3x3 windows on rows of up to
126 columns (a quarter of int32's memory traffic in the forward's running
argmax), and the scatter index is int32 while it fits (half of int64's).
The index is built by repeat/tile into one array, which runs as long loops;
broadcasting (N*C, 1, 1) plane starts against (OH, OW) corners made NumPy
step through rows of OW numbers (commit cc13d19). The scatter-add stays on
one thread: split over images it was no faster (``add.at`` holds the GIL;
commit d1d9353).
"""

from ...backend import get_array_module

__all__ = ["code_dtype", "outputs", "backward"]


def code_dtype(xp, window, padded_width):
    """uint8 when every code i*Wp + j fits, else uint16 or int32."""
    last = (window.kh - 1) * padded_width + window.kw - 1
    return xp.uint8 if last < 256 else xp.uint16 if last < 65536 else xp.int32


def outputs(x, window, track):
    """The forward's empty results for x (N, C, H, W): ``(xp, y, argmax)``
    with y (N, C, OH, OW) of x's dtype and argmax the window codes (None
    unless ``track``). Shared by the CPU pooling paths."""
    xp = get_array_module(x)
    y = xp.empty(x.shape[:2] + (window.oh, window.ow), dtype=x.dtype)
    wp = window.padded_size(*x.shape[2:])[1]
    argmax = xp.empty(y.shape, dtype=code_dtype(xp, window, wp)) if track else None
    return xp, y, argmax


def backward(gy, argmax, window, x_shape):
    """gx (N, C, H, W): ``gx[u] = sum of gy[w] over the outputs w whose
    argmax is u``, by an unbuffered scatter-add (``xp.add.at``; a plain
    ``gx[index] += gy`` would keep only one of the repeated indices)."""
    xp, (n, c, h, w) = get_array_module(gy), x_shape
    hp, wp = window.padded_size(h, w)
    oh, ow = window.oh, window.ow
    index_type = xp.int32 if n * c * hp * wp < 2**31 else xp.int64
    corner = (xp.arange(oh, dtype=index_type)[:, None] * index_type(window.sh * wp)
              + xp.arange(ow, dtype=index_type)[None, :] * index_type(window.sw))
    plane_starts = xp.arange(0, n * c * hp * wp, hp * wp, dtype=index_type)
    index = xp.repeat(plane_starts, oh * ow)
    index += xp.tile(corner.reshape(-1), n * c)
    index += argmax.reshape(-1)
    gpad = xp.zeros((n, c, hp, wp), dtype=gy.dtype)
    xp.add.at(gpad.reshape(-1), index, gy.reshape(-1))
    if (hp, wp) == (h, w):                   # no padding, no ceil-mode overhang
        return gpad
    return xp.ascontiguousarray(gpad[:, :, window.ph:window.ph + h, window.pw:window.pw + w])
