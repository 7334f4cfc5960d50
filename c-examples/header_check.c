/*
 * header_check.c - tsb_pkcs11.h next to a standard pkcs11.h, used the way a C program uses it,
 * compiled with -Wall -Wextra -Werror (make check-header). Loads nothing.
 */
#include <stdio.h>

#include <pkcs11.h>
#include <tsb_pkcs11.h>

/* The vendor functions' types must match the table's slots. */
static const TSB_FUNCTION_LIST table = {
    { 1, 0 },
    TSB_CreateCSR,
    TSB_SelfSignCertificate,
    TSB_IssueCertificate,
    TSB_GetRequestStatus,
    TSB_CancelRequest,
    TSB_GetLastRequestId,
};

int main(void)
{
    TSB_CSR_PARAMS csr = { 0 };
    TSB_CERT_PARAMS cert = { 0 };
    TSB_REQUEST_INFO info = { 0 };
    CK_ATTRIBUTE policy = { CKA_TSB_POLICY, NULL, 0 };
    CK_RV codes[] = { CKR_TSB_APPROVAL_EXPIRED, CKR_TSB_APPROVAL_TIMEOUT };

    csr.commonName = "example";
    csr.outputFormat = TSB_OUTPUT_DER;
    cert.certificateAuthority = CK_TRUE;
    info.status = TSB_REQUEST_EXECUTED;
    printf("tsb_pkcs11.h %u.%u: CKA_TSB_POLICY 0x%lx, CKR_TSB_APPROVAL_EXPIRED 0x%lx, "
           "CKR_TSB_APPROVAL_TIMEOUT 0x%lx, estimate %d, %s %lu %d %lu\n",
           (unsigned)table.version.major, (unsigned)table.version.minor,
           (unsigned long)policy.type, (unsigned long)codes[0], (unsigned long)codes[1],
           TSB_OUTPUT_ESTIMATE, csr.commonName, (unsigned long)csr.outputFormat,
           (int)cert.certificateAuthority, (unsigned long)info.status);
    return 0;
}
