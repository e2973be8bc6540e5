/* SPDX-License-Identifier: MIT */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "blk_crypt.h"

struct blk_crypt {
	EVP_CIPHER_CTX *enc, *dec;
};

void blk_crypt_global_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	EVP_CIPHER_free(EVP_CIPHER_fetch(NULL, "AES-256-XTS", NULL));
}

struct blk_crypt *blk_crypt_new(const uint8_t *key)
{
	struct blk_crypt *c = calloc(1, sizeof(*c));

	/* XTS with equal halves is weak; OpenSSL refuses it too. */
	if (!c || !memcmp(key, key + 32, 32))
		goto fail;
	c->enc = EVP_CIPHER_CTX_new();
	c->dec = EVP_CIPHER_CTX_new();
	if (!c->enc || !c->dec ||
	    EVP_EncryptInit_ex(c->enc, EVP_aes_256_xts(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(c->dec, EVP_aes_256_xts(), NULL, key, NULL) != 1)
		goto fail;
	return c;
fail:
	blk_crypt_free(c);
	return NULL;
}

void blk_crypt_free(struct blk_crypt *c)
{
	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	free(c);
}

int blk_crypt_run(struct blk_crypt *c, bool encrypt, void *buf, size_t len, uint64_t sector)
{
	EVP_CIPHER_CTX *ctx = encrypt ? c->enc : c->dec;
	uint8_t *p = buf;

	for (size_t off = 0; off + 512 <= len; off += 512, sector++) {
		uint8_t iv[16] = { 0 };
		int outl;
		for (int i = 0; i < 8; i++)
			iv[i] = (uint8_t)(sector >> (8 * i));
		if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, encrypt) != 1 ||
		    EVP_CipherUpdate(ctx, p + off, &outl, p + off, 512) != 1 || outl != 512)
			return -1;
	}
	return 0;
}
