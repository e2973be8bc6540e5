/* SPDX-License-Identifier: MIT */
/* AES-256-XTS sector encryption: round trip, tweak = sector (same plaintext, different sectors ->
 * different ciphertext), equal key halves refused, IEEE 1619 style check against OpenSSL one-shot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "../../../../dpu/blk/blk_crypt.h"

static uint8_t key[64];

static int setup(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 64; i++)
		key[i] = (uint8_t)(i * 29 + 3);
	return 0;
}

static void test_round_trip_and_tweak(void **state)
{
	static uint8_t plain[4096], buf[4096];
	struct blk_crypt *c = blk_crypt_new(key);

	(void)state;
	assert_non_null(c);
	for (unsigned i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i / 512);     /* sectors differ only by one byte value */
	memset(plain, 0x42, 1024);              /* sectors 0 and 1 identical */
	memcpy(buf, plain, sizeof(buf));
	assert_int_equal(blk_crypt_run(c, true, buf, sizeof(buf), 1000), 0);
	assert_memory_not_equal(buf, plain, 512);
	/* identical plaintext sectors encrypt differently (tweak = sector number) */
	assert_memory_not_equal(buf, buf + 512, 512);
	/* sector 1001 on its own gives the same ciphertext as inside the run */
	uint8_t one[512];
	memcpy(one, plain + 512, 512);
	assert_int_equal(blk_crypt_run(c, true, one, 512, 1001), 0);
	assert_memory_equal(one, buf + 512, 512);
	/* matches OpenSSL's XTS with a little-endian 16-byte tweak */
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 }, ref[512];
	uint64_t sector = 1002;
	int outl;
	memcpy(iv, &sector, 8);
	assert_int_equal(EVP_EncryptInit_ex(x, EVP_aes_256_xts(), NULL, key, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(x, ref, &outl, plain + 1024, 512), 1);
	EVP_CIPHER_CTX_free(x);
	assert_memory_equal(ref, buf + 1024, 512);
	assert_int_equal(blk_crypt_run(c, false, buf, sizeof(buf), 1000), 0);
	assert_memory_equal(buf, plain, sizeof(buf));
	blk_crypt_free(c);
}

static void test_weak_key_refused(void **state)
{
	uint8_t weak[64];

	(void)state;
	memset(weak, 7, sizeof(weak));
	assert_null(blk_crypt_new(weak));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_round_trip_and_tweak, setup),
		cmocka_unit_test_setup(test_weak_key_refused, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
