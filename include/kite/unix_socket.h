/* SPDX-License-Identifier: MIT */
/*
 * Listening Unix stream sockets for servers (kite-dpu's control and vhost-user sockets, kite's API).
 * unix_listen() makes the socket appear at `path` only once it is listening: it binds and listens on
 * a temporary name beside `path` and renames it into place, so a client that sees the file never
 * gets ECONNREFUSED from a socket that is bound but not yet listening. A stale file at `path` is
 * replaced. The socket file has mode 0600 (owner only) from the moment it appears. Returns the listening fd (SOCK_CLOEXEC | SOCK_NONBLOCK), or -1 with errno set and
 * nothing left at `path` or at the temporary name. Any thread; no logging (callers name the object).
 */
#ifndef KITE_UNIX_SOCKET_H
#define KITE_UNIX_SOCKET_H

int unix_listen(const char *path, int backlog);

/* Before a server takes `path`: 0 if nothing is there or a stale socket (nobody listens; unix_listen
 * replaces it); -1 with a one-line reason in err (prog names the server in it) if a server listens
 * there, the path is no socket, or it is too long. Any thread; no logging. */
int unix_listen_check(const char *path, const char *prog, char *err, size_t errlen);

#endif
