/* SPDX-License-Identifier: MIT */
/* kite's version, as --version and the API (GET /, GET /version) report it. */
#ifndef KITE_VERSION_H
#define KITE_VERSION_H

#define KITE_VERSION "0.1.0"

#endif
