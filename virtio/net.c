/* SPDX-License-Identifier: MIT */
/* Reserved: virtio-net is being written by the net/balloon engineer (do not edit). */
