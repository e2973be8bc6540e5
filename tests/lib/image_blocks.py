# SPDX-License-Identifier: MIT
"""A disk image checked block by block against what a test guest wrote there."""


def bad_blocks(path, count, size, want):
    """The numbers of the blocks among the first `count` blocks of `size` bytes of the image at `path`
    that do not hold want(block number) (bytes); [] when every one does."""
    with open(path, "rb") as f:
        data = f.read(count * size)
    return [b for b in range(count) if data[b * size:(b + 1) * size] != want(b)]
