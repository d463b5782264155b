/* Latency of the TPM identity operations against a private swtpm:
 * quote+verify, seal, unseal, checkpoint sign. Prints median and p99
 * per operation and their ratio to a baseline measured in the same run
 * (a one-PCR PCR_Read, the cheapest TPM round trip).
 * Usage: bench/tpm [iterations] */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identity/attest.h"
#include "identity/swtpm.h"
#include "identity/tpm.h"
#include "lib/clock.h"

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *name, double *v, int n, double base)
{
	double med, p99;

	qsort(v, n, sizeof(*v), cmp_d);
	med = v[n / 2];
	p99 = v[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1];
	printf("%-22s median %8.3f ms  p99 %8.3f ms  ratio %6.1fx baseline\n",
	    name, med / 1e3, p99 / 1e3, base > 0 ? med / base : 0.0);
}

static int
die(const char *what, char *err)
{
	fprintf(stderr, "bench/tpm: %s: %s\n", what, err ? err : "failed");
	free(err);
	return 1;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/bw-bench-tpm.XXXXXX", state[64], *err = NULL, *pem = NULL;
	struct swtpm *sw = NULL;
	struct tpm *tpm = NULL;
	struct tpm_signer *signer = NULL;
	struct attest_pcrs pcrs;
	unsigned char nonce[ATTEST_NONCE_LEN], *q, *blob = NULL, *out, *sig;
	unsigned char *akpub = NULL, digest[48] = { 0 };
	size_t qlen, blen = 0, olen, slen, aklen = 0;
	double *base, *quote, *seal, *unseal, *sign, t0, bmed;
	int n = argc > 1 ? atoi(argv[1]) : 200, i, rc = 1;

	if (n < 10 || n > 100000)
		n = 200;
	base = calloc(n, sizeof(double));
	quote = calloc(n, sizeof(double));
	seal = calloc(n, sizeof(double));
	unseal = calloc(n, sizeof(double));
	sign = calloc(n, sizeof(double));
	if (!base || !quote || !seal || !unseal || !sign || !mkdtemp(dir))
		return die("setup", NULL);
	snprintf(state, sizeof(state), "%s/state", dir);
	if (swtpm_start(state, &sw, &err) < 0)
		return die("swtpm", err);
	if (tpm_open(swtpm_tcti(sw), &tpm, &err) < 0 ||
	    tpm_ak_ensure(tpm, TPM_AK_HANDLE_DEFAULT, &akpub, &aklen, &err) < 0 ||
	    attest_pub_to_pem(akpub, aklen, &pem, &err) < 0 ||
	    tpm_signer_open(tpm, TPM_SIGNER_HANDLE_DEFAULT, &signer, &err) < 0) {
		die("open", err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		t0 = (bw_mono_s() * 1e6);
		if (tpm_pcr_read(tpm, 1u << 0, &pcrs, &err) < 0)
			goto fail;
		base[i] = (bw_mono_s() * 1e6) - t0;
	}
	for (i = 0; i < n; i++) {
		memset(nonce, i, sizeof(nonce));
		t0 = (bw_mono_s() * 1e6);
		if (tpm_quote(tpm, TPM_AK_HANDLE_DEFAULT, TPM_SEAL_PCRS_DEFAULT,
		    nonce, sizeof(nonce), &q, &qlen, &err) < 0 ||
		    attest_quote_verify(pem, q, qlen, nonce, sizeof(nonce), NULL,
		    NULL, &err) < 0)
			goto fail;
		quote[i] = (bw_mono_s() * 1e6) - t0;
		free(q);
	}
	if (tpm_pcr_read(tpm, TPM_SEAL_PCRS_DEFAULT, &pcrs, &err) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		free(blob);
		t0 = (bw_mono_s() * 1e6);
		if (tpm_seal(tpm, &pcrs, "0123456789abcdef0123456789abcdef",
		    32, &blob, &blen, &err) < 0)
			goto fail;
		seal[i] = (bw_mono_s() * 1e6) - t0;
		t0 = (bw_mono_s() * 1e6);
		if (tpm_unseal(tpm, blob, blen, &out, &olen, &err) < 0)
			goto fail;
		unseal[i] = (bw_mono_s() * 1e6) - t0;
		tpm_secret_free(out, olen);
	}
	for (i = 0; i < n; i++) {
		digest[0] = i;
		t0 = (bw_mono_s() * 1e6);
		if (tpm_sign_digest(signer, digest, sizeof(digest), &sig, &slen) < 0)
			goto fail;
		sign[i] = (bw_mono_s() * 1e6) - t0;
		free(sig);
	}
	printf("bench/tpm: %d iterations against swtpm, signer %s\n", n,
	    tpm_signer_curve(signer));
	qsort(base, n, sizeof(double), cmp_d);
	bmed = base[n / 2];
	report("baseline PCR_Read", base, n, bmed);
	report("quote+verify", quote, n, bmed);
	report("seal", seal, n, bmed);
	report("unseal", unseal, n, bmed);
	report("sign (checkpoint)", sign, n, bmed);
	rc = 0;
	goto out;
fail:
	die("operation", err);
out:
	free(blob);
	free(pem);
	free(akpub);
	tpm_signer_free(signer);
	tpm_close(tpm);
	swtpm_stop(sw);
	{
		char cmd[128];

		/* our own private temp dir, created above */
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench/tpm: could not remove %s\n", dir);
	}
	free(base);
	free(quote);
	free(seal);
	free(unseal);
	free(sign);
	return rc;
}
