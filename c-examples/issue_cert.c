/*
 * issue_cert.c - example 2: issue a certificate for a CSR with a CA key held in the TSB, and put
 * it onto the requesting key.
 *
 *   issue_cert [-m MODULE] [-a CA_LABEL] [-p CA_POLICY.json] [-s SUB_LABEL] -i CSR
 *              [-o CERT.pem] [-A CA_CERT.pem] [-d DAYS]
 *
 * 1. The CA key (-a, default CA.approver.securosys.com): found by label, or generated (RSA-2048,
 *    with the SKA policy of -p if given) and given a self-signed CA certificate through
 *    TSB_SelfSignCertificate (certificateAuthority, KEY_CERT_SIGN + CRL_SIGN). The CA certificate
 *    is written to -A (PEM, default ca.cert.pem).
 * 2. TSB_IssueCertificate for the CSR (-i): DIGITAL_SIGNATURE, CODE_SIGNING, the CSR's subject;
 *    -d days of validity (default 0: the TSB's own; TSBs up to 2.2.0 take no validity for issued
 *    certificates and the module refuses -d there); written to -o (PEM, default sub.cert.pem).
 * 3. C_CreateObject(CKO_CERTIFICATE, CKC_X_509) with the key's CKA_LABEL and CKA_ID imports it onto
 *    the sub key (-s, default SUB.approver.securosys.com); C_FindObjects by CKA_ID finds it again.
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
            "usage: issue_cert [-m MODULE] [-a CA_LABEL] [-p CA_POLICY.json] [-s SUB_LABEL] -i CSR\n"
            "                  [-o CERT.pem] [-A CA_CERT.pem] [-d DAYS]\n");
}

/* After an approval-gated call (success or not): show the id of the request it made. */
static void after_call(struct example_module *m, CK_SESSION_HANDLE s, int gated, const char *what)
{
    if (gated) {
        print_last_request_id(m, s, what);
    }
}

/* The CA key and its certificate: found, or generated and self-signed. */
static CK_RV ca_key_and_cert(struct example_module *m, CK_SESSION_HANDLE s, const char *ca_label,
                             const char *policy, CK_OBJECT_HANDLE *ca_key, CK_OBJECT_HANDLE *ca_cert)
{
    CK_OBJECT_HANDLE pub;
    TSB_CERT_PARAMS cp;
    struct watcher *w = NULL;
    int found, gated;
    CK_RV rv;

    rv = find_object(m, s, CKO_PRIVATE_KEY, ca_label, NULL, 0, ca_key, &found);
    if (rv != CKR_OK) {
        return rv;
    }
    if (found) {
        printf("using the existing CA key \"%s\" (handle %lu)\n", ca_label, (unsigned long)*ca_key);
        rv = find_object(m, s, CKO_CERTIFICATE, ca_label, NULL, 0, ca_cert, &found);
        if (rv != CKR_OK) {
            return rv;
        }
        if (found) {
            printf("using its certificate (handle %lu)\n", (unsigned long)*ca_cert);
            return CKR_OK;
        }
    } else {
        rv = generate_rsa_key(m, s, ca_label, policy, &pub, ca_key);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    gated = approval_required(m, s, *ca_key);
    if (gated < 0) {
        return CKR_GENERAL_ERROR;
    }
    memset(&cp, 0, sizeof cp);
    cp.signatureAlgorithm = "SHA256_WITH_RSA";
    cp.validityDays = 3650;
    cp.commonName = "Approver-CA";
    cp.certificateAuthority = CK_TRUE;
    cp.keyUsage = "KEY_CERT_SIGN,CRL_SIGN,DIGITAL_SIGNATURE";
    cp.outputFormat = TSB_OUTPUT_PEM;
    printf("self-signing a CA certificate for \"%s\" (CN=%s, CA, %s)%s\n", ca_label, cp.commonName,
           cp.keyUsage, gated ? "; waiting for approval" : "");
    if (gated) {
        w = watcher_start(m, s, 0);
    }
    rv = m->tsb->TSB_SelfSignCertificate(s, *ca_key, &cp, ca_cert);
    watcher_stop(w);
    after_call(m, s, gated, "TSB_SelfSignCertificate");
    if (rv != CKR_OK) {
        return report("TSB_SelfSignCertificate", rv);
    }
    printf("TSB_SelfSignCertificate: CA certificate object, handle %lu\n", (unsigned long)*ca_cert);
    return CKR_OK;
}

/* Issue the certificate for the CSR (DER into *cert). */
static CK_RV issue(struct example_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ca_key,
                   const CK_BYTE *csr, size_t csr_len, CK_ULONG days, CK_BYTE **cert,
                   CK_ULONG *cert_len)
{
    TSB_CERT_PARAMS cp;
    struct watcher *w = NULL;
    CK_BYTE *buf = NULL, *bigger;
    CK_ULONG len = 0;
    int gated;
    CK_RV rv;

    *cert = NULL;
    *cert_len = 0;
    memset(&cp, 0, sizeof cp);
    cp.signatureAlgorithm = "SHA256_WITH_RSA";
    cp.validityDays = days;
    cp.commonName = NULL; /* keep the CSR's subject */
    cp.certificateAuthority = CK_FALSE;
    cp.keyUsage = "DIGITAL_SIGNATURE";
    cp.extendedKeyUsage = "CODE_SIGNING";
    cp.outputFormat = TSB_OUTPUT_DER;

    gated = approval_required(m, s, ca_key);
    if (gated < 0) {
        return CKR_GENERAL_ERROR;
    }
    rv = m->tsb->TSB_IssueCertificate(s, ca_key, csr, (CK_ULONG)csr_len, &cp, NULL, &len);
    if (rv != CKR_OK) {
        return report("TSB_IssueCertificate (length query)", rv);
    }
    printf("TSB_IssueCertificate length query: at most %lu bytes (no request sent)\n",
           (unsigned long)len);
    buf = malloc(len);
    if (buf == NULL) {
        return report("malloc", CKR_HOST_MEMORY);
    }
    if (days == 0) {
        printf("issuing the certificate (%s, %s, the TSB's validity)%s\n", cp.keyUsage,
               cp.extendedKeyUsage, gated ? "; waiting for approval" : "");
    } else {
        printf("issuing the certificate (%s, %s, %lu days)%s\n", cp.keyUsage, cp.extendedKeyUsage,
               (unsigned long)days, gated ? "; waiting for approval" : "");
    }
    if (gated) {
        w = watcher_start(m, s, 0);
    }
    rv = m->tsb->TSB_IssueCertificate(s, ca_key, csr, (CK_ULONG)csr_len, &cp, buf, &len);
    watcher_stop(w);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        /* The finished certificate is kept by the module: the retry sends nothing. */
        bigger = realloc(buf, len);
        if (bigger == NULL) {
            free(buf);
            return report("realloc", CKR_HOST_MEMORY);
        }
        buf = bigger;
        rv = m->tsb->TSB_IssueCertificate(s, ca_key, csr, (CK_ULONG)csr_len, &cp, buf, &len);
    }
    after_call(m, s, gated, "TSB_IssueCertificate");
    if (rv != CKR_OK) {
        free(buf);
        return report("TSB_IssueCertificate", rv);
    }
    *cert = buf;
    *cert_len = len;
    return CKR_OK;
}

/* Write a DER certificate as PEM. 0 ok. */
static int write_pem(const char *path, const CK_BYTE *der, size_t len)
{
    char *pem = der_to_pem(der, len, "CERTIFICATE");
    int r;
    if (pem == NULL) {
        report("der_to_pem", CKR_HOST_MEMORY);
        return -1;
    }
    r = write_file(path, pem, strlen(pem));
    free(pem);
    if (r == 0) {
        printf("wrote %s\n", path);
    }
    return r;
}

int main(int argc, char **argv)
{
    const char *module = NULL, *ca_label = "CA.approver.securosys.com";
    const char *sub_label = "SUB.approver.securosys.com", *policy_path = NULL, *csr_path = NULL;
    const char *cert_path = "sub.cert.pem", *ca_cert_path = "ca.cert.pem";
    CK_ULONG days = 0;
    int opt, status = 1, found;
    struct example_module m;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE ca_key, ca_cert, sub_key, cert_obj, found_obj;
    CK_BYTE *policy = NULL, *csr = NULL, *ca_der = NULL, *cert = NULL, *id = NULL;
    CK_BYTE *value = NULL, *serial = NULL;
    CK_ULONG ca_der_len = 0, cert_len = 0, id_len = 0, value_len = 0, serial_len = 0;
    size_t policy_len = 0, csr_len = 0;
    CK_RV rv;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&m, 0, sizeof m);
    while ((opt = getopt(argc, argv, "m:a:p:s:i:o:A:d:h")) != -1) {
        switch (opt) {
        case 'm': module = optarg; break;
        case 'a': ca_label = optarg; break;
        case 'p': policy_path = optarg; break;
        case 's': sub_label = optarg; break;
        case 'i': csr_path = optarg; break;
        case 'o': cert_path = optarg; break;
        case 'A': ca_cert_path = optarg; break;
        case 'd': days = strtoul(optarg, NULL, 10); break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc || csr_path == NULL) {
        usage();
        return 2;
    }
    if (read_file(csr_path, &csr, &csr_len) != 0) {
        return 1;
    }
    if (policy_path != NULL && read_file(policy_path, &policy, &policy_len) != 0) {
        goto out;
    }
    if (module_load(&m, module) != CKR_OK || open_session(&m, &s) != CKR_OK) {
        goto out;
    }

    /* 1. CA key and self-signed CA certificate. */
    if (ca_key_and_cert(&m, s, ca_label, (const char *)policy, &ca_key, &ca_cert) != CKR_OK) {
        goto out;
    }
    if (get_bytes(&m, s, ca_cert, CKA_VALUE, &ca_der, &ca_der_len) != CKR_OK ||
        write_pem(ca_cert_path, ca_der, ca_der_len) != 0) {
        goto out;
    }

    /* 2. The certificate for the CSR. */
    if (issue(&m, s, ca_key, csr, csr_len, days, &cert, &cert_len) != CKR_OK ||
        write_pem(cert_path, cert, cert_len) != 0) {
        goto out;
    }

    /* 3. Import it onto the sub key: same CKA_LABEL and CKA_ID as the key. */
    rv = find_object(&m, s, CKO_PRIVATE_KEY, sub_label, NULL, 0, &sub_key, &found);
    if (rv != CKR_OK) {
        goto out;
    }
    if (!found) {
        fprintf(stderr, "no private key labelled \"%s\" to put the certificate on\n", sub_label);
        goto out;
    }
    if (get_bytes(&m, s, sub_key, CKA_ID, &id, &id_len) != CKR_OK) {
        goto out;
    }
    {
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_CERTIFICATE_TYPE ctype = CKC_X_509;
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE tmpl[] = {
            { CKA_CLASS, &cls, sizeof cls },
            { CKA_CERTIFICATE_TYPE, &ctype, sizeof ctype },
            { CKA_TOKEN, &yes, sizeof yes },
            { CKA_LABEL, (void *)sub_label, (CK_ULONG)strlen(sub_label) },
            { CKA_ID, id, id_len },
            { CKA_VALUE, cert, cert_len },
        };
        rv = m.p11->C_CreateObject(s, tmpl, sizeof tmpl / sizeof tmpl[0], &cert_obj);
        if (rv != CKR_OK) {
            report("C_CreateObject(CKO_CERTIFICATE)", rv);
            goto out;
        }
    }
    printf("C_CreateObject: imported the certificate onto \"%s\" (handle %lu)\n", sub_label,
           (unsigned long)cert_obj);

    /* 4. Find it again by the key's CKA_ID alone, and compare. */
    rv = find_object(&m, s, CKO_CERTIFICATE, NULL, id, id_len, &found_obj, &found);
    if (rv != CKR_OK) {
        goto out;
    }
    printf("C_FindObjects(CKO_CERTIFICATE, CKA_ID=");
    print_hex(id, id_len);
    printf("): ");
    if (!found) {
        printf("nothing\n");
        fprintf(stderr, "the imported certificate is not found by the key's CKA_ID\n");
        goto out;
    }
    printf("handle %lu\n", (unsigned long)found_obj);
    if (get_bytes(&m, s, found_obj, CKA_VALUE, &value, &value_len) != CKR_OK ||
        get_bytes(&m, s, found_obj, CKA_SERIAL_NUMBER, &serial, &serial_len) != CKR_OK) {
        goto out;
    }
    if (value_len != cert_len || memcmp(value, cert, cert_len) != 0) {
        fprintf(stderr, "the found certificate's CKA_VALUE differs from the issued one\n");
        goto out;
    }
    printf("found certificate: CKA_VALUE matches the issued certificate (%lu bytes), "
           "CKA_SERIAL_NUMBER ",
           (unsigned long)value_len);
    print_hex(serial, serial_len);
    printf("\n");
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
    free(serial);
    free(value);
    free(id);
    free(cert);
    free(ca_der);
    free(policy);
    free(csr);
    return status;
}
