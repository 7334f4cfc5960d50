/*
 * common.h - what the tsb-pkcs11 C examples share: loading the module with dlopen, reaching the
 * vendor functions (C_GetInterface("Vendor tsb-pkcs11"), else dlsym), sessions, objects, files.
 *
 * Every function that can fail returns a CK_RV (or 0/-1 for file helpers) and has already printed
 * what failed, with the CK_RV name, on stderr.
 */
#ifndef TSB_EXAMPLES_COMMON_H
#define TSB_EXAMPLES_COMMON_H

#include <stddef.h>

#include <pkcs11.h>       /* standard PKCS#11 header (p11-kit: pkg-config --cflags p11-kit-1) */
#include "tsb_pkcs11.h"   /* vendor extension of tsb-pkcs11 (include/) */
#include "rv_names.h"

/* The module, loaded. */
struct example_module {
    void *dl;                        /* dlopen handle */
    CK_FUNCTION_LIST_PTR p11;        /* standard functions (C_GetFunctionList) */
    const TSB_FUNCTION_LIST *tsb;    /* vendor functions */
    const char *tsb_via;             /* "C_GetInterface" or "dlsym" */
    TSB_FUNCTION_LIST dlsym_table;   /* filled when C_GetInterface is not available */
    int initialized;                 /* C_Initialize succeeded */
};

/* Print "<what> failed: CKR_NAME (0x...)" on stderr; returns rv. */
CK_RV report(const char *what, CK_RV rv);

/*
 * Load the module: `path`, else $TSB_PKCS11_MODULE. dlopen, C_GetFunctionList, the vendor table,
 * then C_Initialize (OS locking: the examples call the module from a second thread).
 */
CK_RV module_load(struct example_module *m, const char *path);

/* C_Finalize (when initialized) and dlclose. Safe on a partly loaded module. */
void module_unload(struct example_module *m);

/* The first slot with a token, and a read/write session on it. */
CK_RV open_session(struct example_module *m, CK_SESSION_HANDLE *session);

/*
 * Find the one object of `cls` with CKA_LABEL `label` (when not NULL) and CKA_ID `id` (when
 * `id_len` > 0). *found = 0 when there is none.
 */
CK_RV find_object(struct example_module *m, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                  const char *label, const CK_BYTE *id, CK_ULONG id_len,
                  CK_OBJECT_HANDLE *obj, int *found);

/* Read a byte-array attribute into a new malloc'd buffer (*len bytes). */
CK_RV get_bytes(struct example_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
                CK_ATTRIBUTE_TYPE type, CK_BYTE **value, CK_ULONG *len);

/* Print the id of the session's last TSB request, when there is one. */
void print_last_request_id(struct example_module *m, CK_SESSION_HANDLE s, const char *what);

/* Print bytes as hex to stdout (no newline). */
void print_hex(const CK_BYTE *p, size_t n);

/* Read a whole file into a new malloc'd buffer with a NUL after it. 0 ok, -1 failed (printed). */
int read_file(const char *path, CK_BYTE **data, size_t *len);

/* Write a whole file. 0 ok, -1 failed (printed). */
int write_file(const char *path, const void *data, size_t len);

/* DER -> PEM with "-----BEGIN <type>-----" lines, in a new malloc'd string; NULL when out of memory. */
char *der_to_pem(const CK_BYTE *der, size_t len, const char *type);

/* TSB_REQUEST_* -> "PENDING", ... */
const char *request_status_name(CK_ULONG status);

/* TSB_GetRequestStatus of `id`, printed as one line; the CK_RV of the call. */
CK_RV print_request_status(struct example_module *m, CK_SESSION_HANDLE s, const char *id);

/* CKA_TSB_APPROVAL_REQUIRED of a key: 1 yes, 0 no, -1 failed (printed). */
int approval_required(struct example_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key);

/*
 * C_GenerateKeyPair of an RSA-2048 signing key (CKA_TOKEN, CKA_SIGN, not extractable) labelled
 * `label`, with a random CKA_ID (C_GenerateRandom); with `policy_json` (not NULL) its SKA policy is set through CKA_TSB_POLICY.
 */
CK_RV generate_rsa_key(struct example_module *m, CK_SESSION_HANDLE s, const char *label,
                       const char *policy_json, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv);

/*
 * A thread that, while the main thread is blocked in an approval-gated call, reports the request
 * id (TSB_GetLastRequestId) and its approvals (TSB_GetRequestStatus) whenever they change. With
 * `cancel_after_ms` > 0 it cancels the request (TSB_CancelRequest) when it is still pending after
 * that long; the blocked call then returns CKR_FUNCTION_CANCELED.
 */
struct watcher;
struct watcher *watcher_start(struct example_module *m, CK_SESSION_HANDLE s,
                              long cancel_after_ms);
void watcher_stop(struct watcher *w); /* NULL is fine */

#endif /* TSB_EXAMPLES_COMMON_H */
