/* SPDX-License-Identifier: MIT */
/* AES-256-XTS over 512-byte sectors, tweak = sector number (little-endian, 16 bytes). */
#ifndef KITE_DPU_BLK_CRYPT_H
#define KITE_DPU_BLK_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_crypt;

/* Load OpenSSL's configuration and the AES-XTS implementation now (main thread, before any seccomp
 * filter): otherwise the first blk_crypt_new() reads openssl.cnf on whatever thread it runs. */
void blk_crypt_global_init(void);
/* key: 64 bytes (two AES-256 keys, which must differ). NULL on failure. One user thread at a time. */
struct blk_crypt *blk_crypt_new(const uint8_t *key);
void blk_crypt_free(struct blk_crypt *c);
/* En/decrypt len bytes (a multiple of 512) in place, first sector `sector`. 0 or -1. */
int blk_crypt_run(struct blk_crypt *c, bool encrypt, void *buf, size_t len, uint64_t sector);

#endif
