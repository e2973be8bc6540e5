/* SPDX-License-Identifier: MIT */
/*
 * The host terminal behind a stdio console (not a device): when stdin is a terminal it is put in raw
 * mode (no line editing or echo, ISIG kept so Ctrl-C still stops kite) and restored on every way
 * out: the board calls host_tty_restore(), exit() runs it through atexit(). The saved settings are
 * per process, as stdin is.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "host_tty.h"
#include "kite/log.h"

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;
static struct termios saved_tio;
static bool tio_saved;
static bool atexit_done;

void host_tty_restore(void)
{
	pthread_mutex_lock(&console_lock);
	if (tio_saved) {
		if (tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio) < 0)
			log_warn("host terminal: restoring the terminal settings of stdin failed: %m");
		tio_saved = false;
	}
	pthread_mutex_unlock(&console_lock);
}

void host_tty_raw_stdin(void)
{
	struct termios tio;

	if (!isatty(STDIN_FILENO))
		return;
	pthread_mutex_lock(&console_lock);
	if (tio_saved || tcgetattr(STDIN_FILENO, &saved_tio) < 0) {
		pthread_mutex_unlock(&console_lock);
		return;
	}
	tio = saved_tio;
	cfmakeraw(&tio);
	tio.c_lflag |= ISIG;
	tio.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) < 0) {
		log_warn("host terminal: putting stdin in raw mode failed: %m");
		pthread_mutex_unlock(&console_lock);
		return;
	}
	tio_saved = true;
	if (!atexit_done) {
		atexit_done = true;
		atexit(host_tty_restore);
	}
	pthread_mutex_unlock(&console_lock);
}
