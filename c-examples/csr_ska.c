/*
 * csr_ska.c - example 1, the seed's flow: generate an RSA-2048 key whose SKA policy (read from a
 * JSON file) makes every use wait for approvals, create a CSR for it with TSB_CreateCSR
 * (CN Approver-Intermediate-SUB, keyUsage DIGITAL_SIGNATURE, extendedKeyUsage CODE_SIGNING,
 * 365 days, SHA256_WITH_RSA), wait for the approvers, and write the CSR as PEM (or DER).
 *
 *   csr_ska [-m MODULE] [-l LABEL] [-p POLICY.json] [-x] [-n CN] [-O ORG] [-U OU] [-c C]
 *           [-E EMAIL] [-S FIELD=VALUE]... [-f pem|der] [-o OUT] [-C MS]
 *
 * -S sets any other subject field: ST, L, title, SN, GN, initials, pseudonym,
 * generationQualifier, organizationIdentifier.
 * Without -p the key has no policy and the CSR is made at once. -x uses an existing key with the
 * label instead of generating one. -C cancels the request (TSB_CancelRequest) when it is still
 * pending after MS milliseconds. Exit status 0 on success, 1 on failure (the CK_RV name is
 * printed), 2 on a usage error.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: csr_ska [-m MODULE] [-l LABEL] [-p POLICY.json] [-x] [-n CN] [-O ORG] [-U OU]\n"
            "               [-c COUNTRY] [-E EMAIL] [-S FIELD=VALUE]... [-f pem|der] [-o OUT] [-C MS]\n"
            "  -m  the module (default: $TSB_PKCS11_MODULE)\n"
            "  -l  key label (default SUB.approver.securosys.com)\n"
            "  -p  SKA policy of the new key, JSON (the TSB \"policy\" object)\n"
            "  -x  use the existing key with this label instead of generating one\n"
            "  -n  subject CN (default Approver-Intermediate-SUB)\n"
            "  -S  another subject field: ST, L, title, SN, GN, initials, pseudonym,\n"
            "      generationQualifier, organizationIdentifier (repeatable)\n"
            "  -f  output format (default pem)\n"
            "  -o  output file (default sub.csr.pem)\n"
            "  -C  cancel the request if it is still pending after MS milliseconds\n");
}

/*
 * The request's result as the TSB keeps it (TSB_GetRequestStatus with a result buffer: a length
 * query, then the text). For a CSR that is the PEM the module returned.
 */
static CK_RV show_result(struct example_module *m, CK_SESSION_HANDLE s, const char *id,
                         const CK_BYTE *csr, CK_ULONG csr_len, int pem)
{
    TSB_REQUEST_INFO info;
    CK_BYTE *result;
    CK_ULONG len = 0;
    CK_RV rv;

    rv = m->tsb->TSB_GetRequestStatus(s, id, &info, NULL, &len);
    if (rv != CKR_OK) {
        return report("TSB_GetRequestStatus (result length)", rv);
    }
    result = malloc(len + 1);
    if (result == NULL) {
        return report("malloc", CKR_HOST_MEMORY);
    }
    rv = m->tsb->TSB_GetRequestStatus(s, id, &info, result, &len);
    if (rv != CKR_OK) {
        free(result);
        return report("TSB_GetRequestStatus (result)", rv);
    }
    printf("TSB_GetRequestStatus result: %lu bytes%s\n", (unsigned long)len,
           !pem ? "" : (len == csr_len && memcmp(result, csr, len) == 0) ? ", the same CSR"
                                                                        : ", not the CSR returned");
    free(result);
    return CKR_OK;
}

/* -S FIELD=VALUE: point the matching TSB_CSR_PARAMS field at VALUE (inside argv). 0 ok. */
static int set_subject_field(TSB_CSR_PARAMS *p, char *arg)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        { "ST", offsetof(TSB_CSR_PARAMS, stateOrProvinceName) },
        { "L", offsetof(TSB_CSR_PARAMS, locality) },
        { "title", offsetof(TSB_CSR_PARAMS, title) },
        { "SN", offsetof(TSB_CSR_PARAMS, surname) },
        { "GN", offsetof(TSB_CSR_PARAMS, givenName) },
        { "initials", offsetof(TSB_CSR_PARAMS, initials) },
        { "pseudonym", offsetof(TSB_CSR_PARAMS, pseudonym) },
        { "generationQualifier", offsetof(TSB_CSR_PARAMS, generationQualifier) },
        { "organizationIdentifier", offsetof(TSB_CSR_PARAMS, organizationIdentifier) },
    };
    char *eq = strchr(arg, '=');
    size_t i;

    if (eq == NULL) {
        return -1;
    }
    *eq = '\0';
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(arg, fields[i].name) == 0) {
            const char **slot = (const char **)((char *)p + fields[i].offset);
            *slot = eq + 1;
            return 0;
        }
    }
    fprintf(stderr, "unknown subject field %s\n", arg);
    return -1;
}

int main(int argc, char **argv)
{
    const char *module = NULL, *label = "SUB.approver.securosys.com", *policy_path = NULL;
    const char *out_path = "sub.csr.pem";
    int existing = 0, opt, status = 1, gated;
    long cancel_after_ms = 0;
    struct example_module m;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    CK_BYTE *policy = NULL, *id = NULL, *csr = NULL;
    CK_ULONG id_len = 0, csr_len = 0;
    size_t policy_len = 0;
    TSB_CSR_PARAMS params;
    struct watcher *w = NULL;
    char request_id[128];
    CK_ULONG request_id_len = sizeof request_id;
    CK_RV rv;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&params, 0, sizeof params);
    params.commonName = "Approver-Intermediate-SUB";
    params.keyUsage = "DIGITAL_SIGNATURE";
    params.extendedKeyUsage = "CODE_SIGNING";
    params.validityDays = 365;
    params.signatureAlgorithm = "SHA256_WITH_RSA";
    params.outputFormat = TSB_OUTPUT_PEM;

    while ((opt = getopt(argc, argv, "m:l:p:xn:O:U:c:E:S:f:o:C:h")) != -1) {
        switch (opt) {
        case 'm': module = optarg; break;
        case 'l': label = optarg; break;
        case 'p': policy_path = optarg; break;
        case 'x': existing = 1; break;
        case 'n': params.commonName = optarg; break;
        case 'O': params.organizationName = optarg; break;
        case 'U': params.organizationUnitName = optarg; break;
        case 'c': params.country = optarg; break;
        case 'E': params.email = optarg; break;
        case 'S':
            if (set_subject_field(&params, optarg) != 0) {
                usage();
                return 2;
            }
            break;
        case 'o': out_path = optarg; break;
        case 'C':
            cancel_after_ms = strtol(optarg, NULL, 10);
            if (cancel_after_ms <= 0) {
                usage();
                return 2;
            }
            break;
        case 'f':
            if (strcmp(optarg, "pem") == 0) {
                params.outputFormat = TSB_OUTPUT_PEM;
            } else if (strcmp(optarg, "der") == 0) {
                params.outputFormat = TSB_OUTPUT_DER;
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
    if (optind != argc || (existing && policy_path != NULL)) {
        usage();
        return 2;
    }
    if (policy_path != NULL && read_file(policy_path, &policy, &policy_len) != 0) {
        return 1;
    }

    if (module_load(&m, module) != CKR_OK || open_session(&m, &s) != CKR_OK) {
        goto out;
    }

    /* 1. The key: generated with the policy, or found by label. */
    if (existing) {
        int found;
        if (find_object(&m, s, CKO_PRIVATE_KEY, label, NULL, 0, &priv, &found) != CKR_OK) {
            goto out;
        }
        if (!found) {
            fprintf(stderr, "no private key labelled \"%s\"\n", label);
            goto out;
        }
        printf("using the existing private key \"%s\" (handle %lu)\n", label, (unsigned long)priv);
    } else if (generate_rsa_key(&m, s, label, (const char *)policy, &pub, &priv) != CKR_OK) {
        goto out;
    }
    if (get_bytes(&m, s, priv, CKA_ID, &id, &id_len) != CKR_OK) {
        goto out;
    }
    printf("key CKA_ID ");
    print_hex(id, id_len);
    printf("\n");
    gated = approval_required(&m, s, priv);
    if (gated < 0) {
        goto out;
    }
    printf("CKA_TSB_APPROVAL_REQUIRED: %s\n", gated ? "yes, every use waits for approvals" : "no");

    /* 2. Length query: answered with an upper bound; nothing is sent to the TSB. */
    rv = m.tsb->TSB_CreateCSR(s, priv, &params, NULL, &csr_len);
    if (rv != CKR_OK) {
        report("TSB_CreateCSR (length query)", rv);
        goto out;
    }
    printf("TSB_CreateCSR length query: at most %lu bytes (no request sent)\n",
           (unsigned long)csr_len);
    csr = malloc(csr_len);
    if (csr == NULL) {
        report("malloc", CKR_HOST_MEMORY);
        goto out;
    }

    /* 3. The CSR: on an SKA key this blocks until the approvers decided. */
    printf("creating the CSR for CN=%s (%s, %s, %lu days, %s)%s\n", params.commonName,
           params.keyUsage, params.extendedKeyUsage, (unsigned long)params.validityDays,
           params.signatureAlgorithm, gated ? "; waiting for approval" : "");
    if (gated) {
        w = watcher_start(&m, s, cancel_after_ms);
    }
    rv = m.tsb->TSB_CreateCSR(s, priv, &params, csr, &csr_len);
    watcher_stop(w);
    w = NULL;
    if (rv == CKR_BUFFER_TOO_SMALL) {
        /* The module kept the finished CSR: the retry asks the approvers nothing. */
        CK_BYTE *bigger = realloc(csr, csr_len);
        if (bigger == NULL) {
            report("realloc", CKR_HOST_MEMORY);
            goto out;
        }
        csr = bigger;
        rv = m.tsb->TSB_CreateCSR(s, priv, &params, csr, &csr_len);
    }
    if (rv == CKR_OK || gated) {
        CK_RV rv2 = m.tsb->TSB_GetLastRequestId(s, request_id, &request_id_len);
        if (rv2 == CKR_OK) {
            printf("TSB_GetLastRequestId: %s\n", request_id);
            print_request_status(&m, s, request_id);
            if (rv == CKR_OK && show_result(&m, s, request_id, csr, csr_len,
                                            params.outputFormat == TSB_OUTPUT_PEM) != CKR_OK) {
                goto out;
            }
        } else if (gated) {
            report("TSB_GetLastRequestId", rv2);
        }
    }
    if (rv != CKR_OK) {
        report("TSB_CreateCSR", rv);
        goto out;
    }

    /* 4. The result. */
    if (write_file(out_path, csr, csr_len) != 0) {
        goto out;
    }
    printf("wrote %s (%lu bytes, %s)\n", out_path, (unsigned long)csr_len,
           params.outputFormat == TSB_OUTPUT_DER ? "DER" : "PEM");
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
    free(csr);
    free(id);
    free(policy);
    return status;
}
