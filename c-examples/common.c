/*
 * common.c - shared code of the tsb-pkcs11 C examples (see common.h).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

/*
 * PKCS#11 3.0 C_GetInterface and CK_INTERFACE, declared here because a 2.40 pkcs11.h (p11-kit
 * 0.24) does not have them. The layout is the one of the 3.0 specification.
 */
struct example_interface {
    CK_UTF8CHAR *pInterfaceName;
    void *pFunctionList;
    CK_FLAGS flags;
};
typedef CK_RV (*example_get_interface_fn)(CK_UTF8CHAR *name, CK_VERSION *version,
                                          struct example_interface **iface, CK_FLAGS flags);

CK_RV report(const char *what, CK_RV rv)
{
    fprintf(stderr, "%s failed: %s (0x%08lx)\n", what, rv_name(rv), (unsigned long)rv);
    return rv;
}

/* Resolve a symbol of the module into a function pointer. */
static void *symbol(void *dl, const char *name)
{
    void *p;
    dlerror();
    p = dlsym(dl, name);
    if (p == NULL) {
        const char *err = dlerror();
        fprintf(stderr, "dlsym(%s): %s\n", name, err != NULL ? err : "NULL");
    }
    return p;
}

/* The vendor table through C_GetInterface, else NULL. */
static const TSB_FUNCTION_LIST *vendor_by_interface(void *dl)
{
    example_get_interface_fn get_interface;
    struct example_interface *iface = NULL;
    CK_RV rv;

    dlerror();
    get_interface = (example_get_interface_fn)dlsym(dl, "C_GetInterface");
    if (get_interface == NULL) {
        return NULL; /* a 2.40 module; use dlsym */
    }
    rv = get_interface((CK_UTF8CHAR *)"Vendor tsb-pkcs11", NULL, &iface, 0);
    if (rv != CKR_OK) {
        report("C_GetInterface(\"Vendor tsb-pkcs11\")", rv);
        return NULL;
    }
    if (iface == NULL || iface->pFunctionList == NULL) {
        fprintf(stderr, "C_GetInterface returned no function list\n");
        return NULL;
    }
    return (const TSB_FUNCTION_LIST *)iface->pFunctionList;
}

/* The vendor table by dlsym of each exported TSB_ function; 0 ok. */
static int vendor_by_dlsym(struct example_module *m)
{
    TSB_FUNCTION_LIST *t = &m->dlsym_table;
    memset(t, 0, sizeof *t);
    t->version.major = 1;
    t->version.minor = 0;
    t->TSB_CreateCSR = (CK_RV(*)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, const struct TSB_CSR_PARAMS *,
                                 CK_BYTE *, CK_ULONG *))symbol(m->dl, "TSB_CreateCSR");
    t->TSB_SelfSignCertificate =
        (CK_RV(*)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, const struct TSB_CERT_PARAMS *,
                  CK_OBJECT_HANDLE *))symbol(m->dl, "TSB_SelfSignCertificate");
    t->TSB_IssueCertificate =
        (CK_RV(*)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, const CK_BYTE *, CK_ULONG,
                  const struct TSB_CERT_PARAMS *, CK_BYTE *, CK_ULONG *))symbol(m->dl,
                                                                              "TSB_IssueCertificate");
    t->TSB_GetRequestStatus =
        (CK_RV(*)(CK_SESSION_HANDLE, const char *, struct TSB_REQUEST_INFO *, CK_BYTE *,
                  CK_ULONG *))symbol(m->dl, "TSB_GetRequestStatus");
    t->TSB_CancelRequest =
        (CK_RV(*)(CK_SESSION_HANDLE, const char *))symbol(m->dl, "TSB_CancelRequest");
    t->TSB_GetLastRequestId = (CK_RV(*)(CK_SESSION_HANDLE, char *, CK_ULONG *))symbol(
        m->dl, "TSB_GetLastRequestId");
    if (t->TSB_CreateCSR == NULL || t->TSB_SelfSignCertificate == NULL ||
        t->TSB_IssueCertificate == NULL || t->TSB_GetRequestStatus == NULL ||
        t->TSB_CancelRequest == NULL || t->TSB_GetLastRequestId == NULL) {
        return -1;
    }
    return 0;
}

CK_RV module_load(struct example_module *m, const char *path)
{
    CK_RV (*get_function_list)(CK_FUNCTION_LIST_PTR_PTR);
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(m, 0, sizeof *m);
    if (path == NULL || path[0] == '\0') {
        path = getenv("TSB_PKCS11_MODULE");
    }
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "no module: give its path (-m) or set TSB_PKCS11_MODULE\n");
        return CKR_ARGUMENTS_BAD;
    }
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL) {
        const char *err = dlerror();
        fprintf(stderr, "dlopen(%s): %s\n", path, err != NULL ? err : "failed");
        return CKR_LIBRARY_LOAD_FAILED;
    }
    get_function_list = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))symbol(m->dl, "C_GetFunctionList");
    if (get_function_list == NULL) {
        return CKR_LIBRARY_LOAD_FAILED;
    }
    rv = get_function_list(&m->p11);
    if (rv != CKR_OK) {
        return report("C_GetFunctionList", rv);
    }
    m->tsb = vendor_by_interface(m->dl);
    if (m->tsb != NULL) {
        m->tsb_via = "C_GetInterface(\"Vendor tsb-pkcs11\")";
    } else if (vendor_by_dlsym(m) == 0) {
        m->tsb = &m->dlsym_table;
        m->tsb_via = "dlsym";
    } else {
        fprintf(stderr, "%s has no tsb-pkcs11 vendor functions\n", path);
        return CKR_LIBRARY_LOAD_FAILED;
    }
    printf("loaded %s (vendor functions %u.%u through %s)\n", path,
           (unsigned)m->tsb->version.major, (unsigned)m->tsb->version.minor, m->tsb_via);

    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = m->p11->C_Initialize(&args);
    if (rv != CKR_OK) {
        return report("C_Initialize", rv);
    }
    m->initialized = 1;
    return CKR_OK;
}

void module_unload(struct example_module *m)
{
    if (m->initialized) {
        CK_RV rv = m->p11->C_Finalize(NULL);
        if (rv != CKR_OK) {
            report("C_Finalize", rv);
        }
        m->initialized = 0;
    }
    if (m->dl != NULL) {
        dlclose(m->dl);
        m->dl = NULL;
    }
}

CK_RV open_session(struct example_module *m, CK_SESSION_HANDLE *session)
{
    CK_SLOT_ID slots[16];
    CK_ULONG n = sizeof slots / sizeof slots[0];
    CK_TOKEN_INFO ti;
    CK_RV rv;

    rv = m->p11->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        return report("C_GetSlotList", rv);
    }
    if (n == 0) {
        fprintf(stderr, "no slot with a token: check the module's configuration\n");
        return CKR_TOKEN_NOT_PRESENT;
    }
    rv = m->p11->C_GetTokenInfo(slots[0], &ti);
    if (rv != CKR_OK) {
        return report("C_GetTokenInfo", rv);
    }
    printf("slot %lu: token \"%.32s\"\n", (unsigned long)slots[0], (const char *)ti.label);
    rv = m->p11->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, session);
    if (rv != CKR_OK) {
        return report("C_OpenSession", rv);
    }
    return CKR_OK;
}

CK_RV find_object(struct example_module *m, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                  const char *label, const CK_BYTE *id, CK_ULONG id_len,
                  CK_OBJECT_HANDLE *obj, int *found)
{
    CK_ATTRIBUTE tmpl[3];
    CK_ULONG n = 0;
    CK_OBJECT_HANDLE hits[2];
    CK_ULONG nhits = 0;
    CK_RV rv, rv2;

    tmpl[n].type = CKA_CLASS;
    tmpl[n].pValue = &cls;
    tmpl[n].ulValueLen = sizeof cls;
    n++;
    if (label != NULL) {
        tmpl[n].type = CKA_LABEL;
        tmpl[n].pValue = (void *)label;
        tmpl[n].ulValueLen = (CK_ULONG)strlen(label);
        n++;
    }
    if (id_len > 0) {
        tmpl[n].type = CKA_ID;
        tmpl[n].pValue = (void *)id;
        tmpl[n].ulValueLen = id_len;
        n++;
    }
    *found = 0;
    rv = m->p11->C_FindObjectsInit(s, tmpl, n);
    if (rv != CKR_OK) {
        return report("C_FindObjectsInit", rv);
    }
    rv = m->p11->C_FindObjects(s, hits, 2, &nhits);
    rv2 = m->p11->C_FindObjectsFinal(s);
    if (rv != CKR_OK) {
        return report("C_FindObjects", rv);
    }
    if (rv2 != CKR_OK) {
        return report("C_FindObjectsFinal", rv2);
    }
    if (nhits > 1) {
        fprintf(stderr, "more than one object matches (label %s)\n", label != NULL ? label : "-");
        return CKR_GENERAL_ERROR;
    }
    if (nhits == 1) {
        *obj = hits[0];
        *found = 1;
    }
    return CKR_OK;
}

CK_RV get_bytes(struct example_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
                CK_ATTRIBUTE_TYPE type, CK_BYTE **out, CK_ULONG *len)
{
    CK_ATTRIBUTE a;
    CK_RV rv;

    *out = NULL;
    *len = 0;
    a.type = type;
    a.pValue = NULL;
    a.ulValueLen = 0;
    rv = m->p11->C_GetAttributeValue(s, obj, &a, 1);
    if (rv != CKR_OK) {
        return report("C_GetAttributeValue (length)", rv);
    }
    /* +1: never malloc(0), and a NUL for text attributes */
    a.pValue = calloc(1, a.ulValueLen + 1);
    if (a.pValue == NULL) {
        return report("calloc", CKR_HOST_MEMORY);
    }
    rv = m->p11->C_GetAttributeValue(s, obj, &a, 1);
    if (rv != CKR_OK) {
        free(a.pValue);
        return report("C_GetAttributeValue", rv);
    }
    *out = a.pValue;
    *len = a.ulValueLen;
    return CKR_OK;
}

void print_last_request_id(struct example_module *m, CK_SESSION_HANDLE s, const char *what)
{
    char id[128];
    CK_ULONG len = sizeof id;
    CK_RV rv = m->tsb->TSB_GetLastRequestId(s, id, &len);
    if (rv == CKR_OK) {
        printf("%s: TSB request id %s\n", what, id);
    } else if (rv == CKR_FUNCTION_FAILED) {
        printf("%s: no TSB request (the key needs no approval)\n", what);
    } else {
        report("TSB_GetLastRequestId", rv);
    }
}

void print_hex(const CK_BYTE *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        printf("%02x", (unsigned)p[i]);
    }
}

int read_file(const char *path, CK_BYTE **data, size_t *len)
{
    FILE *f;
    CK_BYTE *buf = NULL;
    size_t cap = 0, n = 0;

    *data = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;
        if (n + 1 >= cap) {
            CK_BYTE *bigger;
            cap = cap == 0 ? 4096 : cap * 2;
            bigger = realloc(buf, cap);
            if (bigger == NULL) {
                fprintf(stderr, "out of memory reading %s\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = bigger;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "cannot read %s\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (len > 0 && fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

char *der_to_pem(const CK_BYTE *der, size_t len, const char *type)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t chars = (len + 2) / 3 * 4;
    size_t cap = chars + chars / 64 + 2 + 2 * (strlen(type) + 32);
    char *out = malloc(cap);
    size_t o = 0, i, line = 0;

    if (out == NULL) {
        return NULL;
    }
    o += (size_t)snprintf(out + o, cap - o, "-----BEGIN %s-----\n", type);
    for (i = 0; i < len; i += 3) {
        unsigned v = (unsigned)der[i] << 16;
        size_t k;
        if (i + 1 < len) {
            v |= (unsigned)der[i + 1] << 8;
        }
        if (i + 2 < len) {
            v |= der[i + 2];
        }
        for (k = 0; k < 4; k++) {
            out[o++] = (k < 2 || i + k <= len) ? b64[(v >> (18 - 6 * k)) & 63] : '=';
        }
        line += 4;
        if (line == 64) {
            out[o++] = '\n';
            line = 0;
        }
    }
    if (line != 0) {
        out[o++] = '\n';
    }
    snprintf(out + o, cap - o, "-----END %s-----\n", type);
    return out;
}

const char *request_status_name(CK_ULONG status)
{
    switch (status) {
    case TSB_REQUEST_PENDING:
        return "PENDING";
    case TSB_REQUEST_APPROVED:
        return "APPROVED";
    case TSB_REQUEST_EXECUTED:
        return "EXECUTED";
    case TSB_REQUEST_FAILED:
        return "FAILED";
    case TSB_REQUEST_EXPIRED:
        return "EXPIRED";
    case TSB_REQUEST_REJECTED:
        return "REJECTED";
    case TSB_REQUEST_CANCELLED:
        return "CANCELLED";
    default:
        return "unknown";
    }
}

CK_RV print_request_status(struct example_module *m, CK_SESSION_HANDLE s, const char *id)
{
    TSB_REQUEST_INFO info;
    CK_RV rv = m->tsb->TSB_GetRequestStatus(s, id, &info, NULL, NULL);
    if (rv != CKR_OK) {
        return report("TSB_GetRequestStatus", rv);
    }
    printf("request %s: %s, %lu approval(s) given, %lu outstanding, %lu rejection(s)\n", id,
           request_status_name(info.status), (unsigned long)info.approvalsGiven,
           (unsigned long)info.approvalsOutstanding, (unsigned long)info.rejections);
    return CKR_OK;
}

int approval_required(struct example_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
    CK_BBOOL yes = CK_FALSE;
    CK_ATTRIBUTE a;
    CK_RV rv;

    a.type = CKA_TSB_APPROVAL_REQUIRED;
    a.pValue = &yes;
    a.ulValueLen = sizeof yes;
    rv = m->p11->C_GetAttributeValue(s, key, &a, 1);
    if (rv != CKR_OK) {
        report("C_GetAttributeValue(CKA_TSB_APPROVAL_REQUIRED)", rv);
        return -1;
    }
    return yes == CK_TRUE;
}

CK_RV generate_rsa_key(struct example_module *m, CK_SESSION_HANDLE s, const char *label,
                       const char *policy_json, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
    CK_BYTE id[8];
    CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = 2048;
    CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
    CK_ULONG label_len = (CK_ULONG)strlen(label);
    CK_ATTRIBUTE pub_tmpl[] = {
        { CKA_TOKEN, &yes, sizeof yes },
        { CKA_VERIFY, &yes, sizeof yes },
        { CKA_MODULUS_BITS, &bits, sizeof bits },
        { CKA_PUBLIC_EXPONENT, exponent, sizeof exponent },
        { CKA_LABEL, (void *)label, label_len },
        { CKA_ID, id, sizeof id },
    };
    CK_ATTRIBUTE priv_tmpl[] = {
        { CKA_TOKEN, &yes, sizeof yes },
        { CKA_PRIVATE, &yes, sizeof yes },
        { CKA_SENSITIVE, &yes, sizeof yes },
        { CKA_EXTRACTABLE, &no, sizeof no },
        { CKA_SIGN, &yes, sizeof yes },
        { CKA_DECRYPT, &no, sizeof no },
        { CKA_LABEL, (void *)label, label_len },
        { CKA_ID, id, sizeof id },
        /* last: only passed with a policy */
        { CKA_TSB_POLICY, (void *)policy_json, policy_json != NULL ? (CK_ULONG)strlen(policy_json) : 0 },
    };
    CK_ULONG n_priv = sizeof priv_tmpl / sizeof priv_tmpl[0] - (policy_json == NULL ? 1 : 0);
    CK_RV rv;

    /* CKA_ID ties the key pair and its certificate together: random, from the HSM. */
    rv = m->p11->C_GenerateRandom(s, id, sizeof id);
    if (rv != CKR_OK) {
        return report("C_GenerateRandom", rv);
    }
    rv = m->p11->C_GenerateKeyPair(s, &mech, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0],
                                   priv_tmpl, n_priv, pub, priv);
    if (rv != CKR_OK) {
        return report("C_GenerateKeyPair", rv);
    }
    printf("generated RSA-2048 key pair \"%s\"%s (public handle %lu, private handle %lu)\n", label,
           policy_json != NULL ? " with an SKA policy (CKA_TSB_POLICY)" : "", (unsigned long)*pub,
           (unsigned long)*priv);
    return CKR_OK;
}

struct watcher {
    struct example_module *m;
    CK_SESSION_HANDLE s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
    long cancel_after_ms;
    char previous_id[128]; /* the session's last request before this call: not this call's */
};

static void *watch_loop(void *arg)
{
    struct watcher *w = arg;
    char id[128] = "";
    TSB_REQUEST_INFO last;
    int have_last = 0, cancelled = 0;
    long polls = 0, waited_ms = 0;

    memset(&last, 0, sizeof last);
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        long step_ms;
        char now_id[128];
        CK_ULONG len = sizeof now_id;

        pthread_mutex_unlock(&w->lock);
        if (w->m->tsb->TSB_GetLastRequestId(w->s, now_id, &len) == CKR_OK &&
            strcmp(now_id, w->previous_id) != 0) {
            TSB_REQUEST_INFO info;
            if (strcmp(now_id, id) != 0) {
                snprintf(id, sizeof id, "%s", now_id);
                have_last = 0;
                printf("waiting for approval of TSB request %s (TSB_GetLastRequestId)\n", id);
            }
            if (w->m->tsb->TSB_GetRequestStatus(w->s, id, &info, NULL, NULL) == CKR_OK &&
                (!have_last || memcmp(&info, &last, sizeof info) != 0)) {
                printf("request %s: %s, %lu approval(s) given, %lu outstanding, %lu rejection(s)\n",
                       id, request_status_name(info.status), (unsigned long)info.approvalsGiven,
                       (unsigned long)info.approvalsOutstanding, (unsigned long)info.rejections);
                last = info;
                have_last = 1;
            }
            if (w->cancel_after_ms > 0 && !cancelled && waited_ms >= w->cancel_after_ms &&
                have_last && last.status == TSB_REQUEST_PENDING) {
                CK_RV rv;
                printf("still pending after %ld ms: cancelling request %s (TSB_CancelRequest)\n",
                       w->cancel_after_ms, id);
                rv = w->m->tsb->TSB_CancelRequest(w->s, id);
                if (rv != CKR_OK) {
                    report("TSB_CancelRequest", rv);
                }
                cancelled = 1;
            }
        }
        /* Poll fast at first (a request may be decided quickly), then every 200 ms. */
        step_ms = polls++ < 10 ? 20 : 200;
        waited_ms += step_ms;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += step_ms * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_mutex_lock(&w->lock);
        while (!w->stop) {
            if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != 0) {
                break; /* timed out: poll again */
            }
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct watcher *watcher_start(struct example_module *m, CK_SESSION_HANDLE s,
                              long cancel_after_ms)
{
    struct watcher *w = calloc(1, sizeof *w);
    if (w == NULL) {
        fprintf(stderr, "out of memory\n");
        return NULL;
    }
    w->m = m;
    w->s = s;
    w->cancel_after_ms = cancel_after_ms;
    {
        CK_ULONG len = sizeof w->previous_id;
        if (m->tsb->TSB_GetLastRequestId(s, w->previous_id, &len) != CKR_OK) {
            w->previous_id[0] = '\0'; /* none yet (CKR_FUNCTION_FAILED) */
        }
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, watch_loop, w) != 0) {
        fprintf(stderr, "cannot start the watcher thread\n");
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void watcher_stop(struct watcher *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
