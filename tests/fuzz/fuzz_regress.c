/* SPDX-License-Identifier: MIT */
/*
 * Regression runner for a fuzz target (used when not building with libFuzzer, which brings its own
 * main): runs every file of the corpus directories given as arguments, then FUZZ_RUNS pseudo-random
 * inputs from the target's generator with a fixed seed, then asks the target for its report.
 * Crashes, sanitizer errors and a failing report fail the test.
 *
 *   fuzz_virtqueue [corpus_dir...]      (env FUZZ_RUNS, FUZZ_SEED override the defaults;
 *                                        FUZZ_SAVE=dir also writes each generated input there,
 *                                        to seed a libFuzzer corpus)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_regress.h"

#define FUZZ_MAX_INPUT (1 << 20)

static int run_file(const char *path, uint8_t *buf)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "fuzz: %s: cannot open corpus file\n", path);
		return -1;
	}
	n = fread(buf, 1, FUZZ_MAX_INPUT, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

static int run_dir(const char *dir, uint8_t *buf, unsigned *count)
{
	struct dirent **names;
	char path[4096];
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0) {
		fprintf(stderr, "fuzz: %s: cannot read corpus directory\n", dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (run_file(path, buf) == 0)
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

static void save_input(const char *dir, unsigned i, const uint8_t *buf, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/gen-%04u", dir, i);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, n, f) != n)
		fprintf(stderr, "fuzz: %s: cannot write input\n", path);
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	uint8_t *buf = malloc(FUZZ_MAX_INPUT);
	unsigned files = 0, runs = 3000;
	uint64_t seed = 0x6b697465;   /* "kite" */
	const char *e;

	if (!buf)
		return 1;
	if ((e = getenv("FUZZ_RUNS")))
		runs = strtoul(e, NULL, 0);
	if ((e = getenv("FUZZ_SEED")))
		seed = strtoull(e, NULL, 0);
	for (int i = 1; i < argc; i++)
		if (run_dir(argv[i], buf, &files) < 0)
			return 1;
	for (unsigned i = 0; i < runs; i++) {
		uint64_t s = seed + i * 0x9e3779b97f4a7c15ull;
		size_t n = fuzz_make_input(s, buf, FUZZ_MAX_INPUT);
		if ((e = getenv("FUZZ_SAVE")))
			save_input(e, i, buf, n);
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("fuzz: %u corpus files, %u generated inputs\n", files, runs);
	free(buf);
	return fuzz_report();
}
