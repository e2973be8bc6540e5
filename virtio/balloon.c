/* SPDX-License-Identifier: MIT */
/* Reserved: virtio-balloon is being written by the net/balloon engineer (do not edit). */
