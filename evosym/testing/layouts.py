"""The non-contiguous layouts the harness hands a candidate its inputs in: a candidate that reads the storage as if it
were contiguous, or whose backward does, is seen; the values are the same in every layout."""

from __future__ import annotations

import torch

# the non-contiguous layouts an input is handed over in (each a view of a zero-filled buffer, its values the same):
# every other entry on the last axis; every other entry along an earlier axis (the last axis unit-stride: a candidate
# that copies only when x.stride(-1) != 1 is seen); the channel axis innermost (channels_last), or transposed (2-D)
LAYOUTS = {"strided": "every other entry of a buffer on the last axis",
           "sliced": "every other entry of a buffer along an earlier axis (the channels where there are several), "
                     "from an offset, the last axis unit-stride",
           "permuted": "a permuted memory layout: the channel axis innermost (channels_last), a 2-D input transposed"}


def laid_out(t, layout):
    """``t``'s values in the non-contiguous ``layout`` (one of :data:`LAYOUTS`): a view of a zero-filled buffer."""
    shape, nd = tuple(t.shape), t.dim()
    if layout == "sliced" and nd >= 2:   # the channel axis where it has more than one entry (a torch.chunk of a
        # wider tensor, at an offset: its batch stride is not C·stride(1), its storage does not start at 0)
        axis = 1 if nd >= 3 and shape[1] > 1 else next((a for a in range(nd - 2, -1, -1) if shape[a] > 1), nd - 2)
        buf = torch.zeros(shape[:axis] + (2 * shape[axis] + 1,) + shape[axis + 1:], dtype=t.dtype)
        view = buf[(slice(None),) * axis + (slice(1, None, 2),)]
    elif layout == "permuted" and nd >= 2:
        order = [0, *range(2, nd), 1] if nd >= 3 else [1, 0]    # memory order: axis 1 innermost
        view = torch.zeros([shape[a] for a in order], dtype=t.dtype).permute(*[order.index(a) for a in range(nd)])
    else:   # "strided", and a 1-D input in every layout
        view = torch.zeros(shape[:-1] + (2 * shape[-1],), dtype=t.dtype)[..., ::2]
    return view.copy_(t)


__all__ = ["LAYOUTS", "laid_out"]
