/* SPDX-License-Identifier: MIT */
/*
 * Helper for the shell-driven kite-dpu tests:
 *   blk_tool ctl SOCK JSON                      one control request, prints the reply line; exit 1 if not ok
 *   blk_tool xts-enc KEYHEX IMAGE OFFSET FILE   write FILE into IMAGE at OFFSET as AES-256-XTS ciphertext
 *   blk_tool xts-dec KEYHEX IMAGE OFFSET LEN OUT  decrypt LEN bytes of IMAGE at OFFSET into OUT
 *   blk_tool xts-check KEYHEX IMAGE OFFSET FILE exit 0 iff IMAGE at OFFSET decrypts to FILE's bytes
 *                                               (and is not FILE's plaintext)
 * Offsets are multiples of 512; a partial last sector of FILE is compared / padded with zeroes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dpu_harness.h"

static int hexkey(const char *hex, unsigned char *key)
{
	if (strlen(hex) != 128)
		return -1;
	for (int i = 0; i < 64; i++) {
		unsigned b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		key[i] = (unsigned char)b;
	}
	return 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	size_t padded = ((size_t)st.st_size + 511) & ~(size_t)511;
	unsigned char *b = calloc(1, padded ? padded : 512);
	if (b && pread(fd, b, (size_t)st.st_size, 0) != st.st_size) {
		free(b);
		b = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void xts(const unsigned char *key, int enc, unsigned char *buf, size_t len, unsigned long long sector)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	for (size_t off = 0; off < len; off += 512, sector++) {
		unsigned char iv[16] = { 0 };
		int outl;
		for (int i = 0; i < 8; i++)
			iv[i] = (unsigned char)(sector >> (8 * i));
		EVP_CipherInit_ex(c, EVP_aes_256_xts(), NULL, key, iv, enc);
		EVP_CipherUpdate(c, buf + off, &outl, buf + off, 512);
	}
	EVP_CIPHER_CTX_free(c);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "ctl")) {
		struct dpu_proc p = { .pid = -1 };
		snprintf(p.ctl, sizeof(p.ctl), "%s", argv[2]);
		char *r = dpu_ctl(&p, argv[3]);
		if (!r) {
			fprintf(stderr, "blk_tool: %s: no reply\n", argv[2]);
			return 1;
		}
		fputs(r, stdout);
		int ok = strstr(r, "\"ok\":true") != NULL;
		free(r);
		return ok ? 0 : 1;
	}
	if (argc == 7 && !strcmp(argv[1], "xts-dec")) {
		unsigned char key[64];
		unsigned long long off = strtoull(argv[4], NULL, 0), len = strtoull(argv[5], NULL, 0);
		int fd = open(argv[3], O_RDONLY);
		unsigned char *buf = malloc(len ? len : 1);
		if (hexkey(argv[2], key) < 0 || fd < 0 || !buf || off % 512 || len % 512 ||
		    pread(fd, buf, len, (off_t)off) != (ssize_t)len) {
			fprintf(stderr, "blk_tool: xts-dec: bad key, image, offset or length\n");
			return 2;
		}
		xts(key, 0, buf, len, off / 512);
		close(fd);
		FILE *o = fopen(argv[6], "w");
		int bad = !o || fwrite(buf, 1, len, o) != len;
		if ((o && fclose(o)) || bad) {
			perror(argv[6]);
			free(buf);
			return 2;
		}
		free(buf);
		return 0;
	}
	if (argc == 6 && (!strcmp(argv[1], "xts-enc") || !strcmp(argv[1], "xts-check"))) {
		unsigned char key[64];
		size_t len;
		unsigned long long off = strtoull(argv[4], NULL, 0);
		unsigned char *plain = slurp(argv[5], &len);
		if (hexkey(argv[2], key) < 0 || !plain || off % 512) {
			fprintf(stderr, "blk_tool: bad key, offset or file\n");
			return 2;
		}
		size_t padded = (len + 511) & ~(size_t)511;
		int fd = open(argv[3], argv[1][4] == 'e' ? O_RDWR : O_RDONLY);
		unsigned char *buf = malloc(padded);
		if (fd < 0 || !buf) {
			perror(argv[3]);
			return 2;
		}
		int rc = 0;
		if (argv[1][4] == 'e') {
			memcpy(buf, plain, padded);
			xts(key, 1, buf, padded, off / 512);
			if (pwrite(fd, buf, padded, (off_t)off) != (ssize_t)padded || fsync(fd) < 0) {
				perror("pwrite");
				rc = 2;
			}
		} else if (pread(fd, buf, padded, (off_t)off) != (ssize_t)padded) {
			perror("pread");
			rc = 2;
		} else if (!memcmp(buf, plain, len < 4096 ? len : 4096)) {
			fprintf(stderr, "blk_tool: %s at %llu holds the plaintext\n", argv[3], off);
			rc = 1;
		} else {
			xts(key, 0, buf, padded, off / 512);
			if (memcmp(buf, plain, len)) {
				fprintf(stderr, "blk_tool: %s at %llu does not decrypt to %s\n", argv[3], off, argv[5]);
				rc = 1;
			}
		}
		close(fd);
		free(buf);
		free(plain);
		return rc;
	}
	fprintf(stderr, "usage: blk_tool ctl SOCK JSON | xts-enc|xts-check KEYHEX IMAGE OFFSET FILE | xts-dec KEYHEX IMAGE OFFSET LEN OUT\n");
	return 2;
}
