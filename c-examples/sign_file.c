/*
 * sign_file.c - example 3: sign a file with C_Sign (RSA PKCS#1 v1.5 with SHA-256, -384 or -512)
 * and write the signature. On an SKA key, C_Sign waits for the approvers; the length query
 * before it sends nothing.
 *
 *   sign_file [-m MODULE] [-l LABEL] [-H sha256|sha384|sha512] -i FILE [-o SIGNATURE]
 *
 * Check the signature with the key's certificate, e.g.
 *   openssl x509 -in sub.cert.pem -pubkey -noout > sub.pub.pem
 *   openssl dgst -sha256 -verify sub.pub.pem -signature FILE.sig FILE
 *
 * Exit status 0 on success, 1 on failure (the CK_RV name is printed), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: sign_file [-m MODULE] [-l LABEL] [-H sha256|sha384|sha512] -i FILE [-o SIGNATURE]\n"
            "  -l  key label (default SUB.approver.securosys.com)\n"
            "  -o  signature file (default FILE.sig)\n");
}

int main(int argc, char **argv)
{
    const char *module = NULL, *label = "SUB.approver.securosys.com", *in_path = NULL;
    const char *out_arg = NULL, *hash = "sha256";
    char *out_path = NULL;
    CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    int opt, status = 1, found, gated;
    struct example_module m;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE key;
    CK_BYTE *data = NULL, *sig = NULL;
    size_t data_len = 0;
    CK_ULONG sig_len = 0;
    struct watcher *w = NULL;
    CK_RV rv;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&m, 0, sizeof m);
    while ((opt = getopt(argc, argv, "m:l:H:i:o:h")) != -1) {
        switch (opt) {
        case 'm': module = optarg; break;
        case 'l': label = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_arg = optarg; break;
        case 'H':
            hash = optarg;
            if (strcmp(hash, "sha256") == 0) {
                mech.mechanism = CKM_SHA256_RSA_PKCS;
            } else if (strcmp(hash, "sha384") == 0) {
                mech.mechanism = CKM_SHA384_RSA_PKCS;
            } else if (strcmp(hash, "sha512") == 0) {
                mech.mechanism = CKM_SHA512_RSA_PKCS;
            } else {
                usage();
                return 2;
            }
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc || in_path == NULL) {
        usage();
        return 2;
    }
    if (out_arg != NULL) {
        out_path = malloc(strlen(out_arg) + 1);
        if (out_path != NULL) {
            strcpy(out_path, out_arg);
        }
    } else {
        out_path = malloc(strlen(in_path) + 5);
        if (out_path != NULL) {
            sprintf(out_path, "%s.sig", in_path);
        }
    }
    if (out_path == NULL) {
        report("malloc", CKR_HOST_MEMORY);
        return 1;
    }
    if (read_file(in_path, &data, &data_len) != 0) {
        goto out;
    }
    if (module_load(&m, module) != CKR_OK || open_session(&m, &s) != CKR_OK) {
        goto out;
    }

    if (find_object(&m, s, CKO_PRIVATE_KEY, label, NULL, 0, &key, &found) != CKR_OK) {
        goto out;
    }
    if (!found) {
        fprintf(stderr, "no private key labelled \"%s\"\n", label);
        goto out;
    }
    gated = approval_required(&m, s, key);
    if (gated < 0) {
        goto out;
    }
    printf("signing %s (%lu bytes) with \"%s\", RSA PKCS#1 v1.5 %s%s\n", in_path,
           (unsigned long)data_len, label, hash, gated ? "; the key needs approvals" : "");

    rv = m.p11->C_SignInit(s, &mech, key);
    if (rv != CKR_OK) {
        report("C_SignInit", rv);
        goto out;
    }
    /* Length query: known from the key; no request is created. */
    rv = m.p11->C_Sign(s, data, (CK_ULONG)data_len, NULL, &sig_len);
    if (rv != CKR_OK) {
        report("C_Sign (length query)", rv);
        goto out;
    }
    printf("C_Sign length query: %lu bytes (no request sent)\n", (unsigned long)sig_len);
    sig = malloc(sig_len);
    if (sig == NULL) {
        report("malloc", CKR_HOST_MEMORY);
        goto out;
    }
    if (gated) {
        w = watcher_start(&m, s, 0);
    }
    rv = m.p11->C_Sign(s, data, (CK_ULONG)data_len, sig, &sig_len);
    watcher_stop(w);
    if (gated) {
        print_last_request_id(&m, s, "C_Sign");
    }
    if (rv != CKR_OK) {
        report("C_Sign", rv);
        goto out;
    }
    if (write_file(out_path, sig, sig_len) != 0) {
        goto out;
    }
    printf("wrote %s (%lu-byte signature)\n", out_path, (unsigned long)sig_len);
    status = 0;

out:
    if (s != CK_INVALID_HANDLE && m.initialized) {
        rv = m.p11->C_CloseSession(s);
        if (rv != CKR_OK) {
            report("C_CloseSession", rv);
            status = 1;
        }
    }
    module_unload(&m);
    free(sig);
    free(data);
    free(out_path);
    return status;
}
