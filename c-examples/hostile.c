/*
 * hostile.c - call every entry point of tsb-pkcs11 with hostile arguments and check each CK_RV.
 *
 *   hostile [-m module.so] [-l ec-key-label] [-r rsa-key-label]
 *
 * Every function of the 2.40 function list, of the PKCS#11 3.0 interface ("PKCS 11" 3.0 from
 * C_GetInterface) and of the vendor interface (TSB_*) is called with what a buggy or malicious
 * caller passes: NULL pointers, zero and huge lengths, invalid session and object handles,
 * operations in the wrong state, calls before C_Initialize and after C_Finalize, double
 * initialization and finalization, length queries followed by too-small buffers. Each call's
 * return value is compared with the one PKCS#11 prescribes (or the module documents); a mismatch
 * is printed with its line. The summary line is "hostile: N calls checked, M unexpected"; the
 * exit status is 0 only when M is 0. The test tests/hostile_abi.rs runs it under valgrind, so a
 * call that reads or writes memory it must not (or crashes) fails too.
 *
 * Needs a configured module (TSB_PKCS11_CONFIG) whose first slot reaches a TSB holding an EC P-256
 * signing key and an RSA-2048 signing and decrypting key, both without approval policy (labels
 * "hostile-ec" and "hostile-rsa" unless given).
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pkcs11.h>
#include "tsb_pkcs11.h"
#include "rv_names.h"

/* ---- the PKCS#11 3.0 function list (a 2.40 header such as p11-kit 0.24's has none) ---------- */

#ifndef CKF_END_OF_MESSAGE
#define CKF_END_OF_MESSAGE 0x1UL /* PKCS#11 3.0 */
#endif

/* CK_GCM_MESSAGE_PARAMS (PKCS#11 3.0), which p11-kit's header lacks. */
struct gcm_message_params {
    CK_BYTE_PTR pIv;
    CK_ULONG ulIvLen;
    CK_ULONG ulIvFixedBits;
    CK_ULONG ivGenerator;
    CK_BYTE_PTR pTag;
    CK_ULONG ulTagBits;
};

/* CK_INTERFACE of PKCS#11 3.0. */
struct h_interface {
    CK_UTF8CHAR *pInterfaceName;
    void *pFunctionList;
    CK_FLAGS flags;
};

/* CK_FUNCTION_LIST_3_0: the 2.40 list (same layout: version, then the 68 functions) followed by
 * the 24 functions 3.0 added, in the order of the 3.0 specification. */
struct h_function_list_30 {
    CK_FUNCTION_LIST v2;
    CK_RV (*C_GetInterfaceList)(struct h_interface *, CK_ULONG *);
    CK_RV (*C_GetInterface)(CK_UTF8CHAR *, CK_VERSION *, struct h_interface **, CK_FLAGS);
    CK_RV (*C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR *, CK_ULONG, CK_UTF8CHAR *,
                         CK_ULONG);
    CK_RV (*C_SessionCancel)(CK_SESSION_HANDLE, CK_FLAGS);
    CK_RV (*C_MessageEncryptInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
    CK_RV (*C_EncryptMessage)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                              CK_ULONG, CK_BYTE *, CK_ULONG *);
    CK_RV (*C_EncryptMessageBegin)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG);
    CK_RV (*C_EncryptMessageNext)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                                  CK_BYTE *, CK_ULONG *, CK_FLAGS);
    CK_RV (*C_MessageEncryptFinal)(CK_SESSION_HANDLE);
    CK_RV (*C_MessageDecryptInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
    CK_RV (*C_DecryptMessage)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                              CK_ULONG, CK_BYTE *, CK_ULONG *);
    CK_RV (*C_DecryptMessageBegin)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG);
    CK_RV (*C_DecryptMessageNext)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                                  CK_BYTE *, CK_ULONG *, CK_FLAGS);
    CK_RV (*C_MessageDecryptFinal)(CK_SESSION_HANDLE);
    CK_RV (*C_MessageSignInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
    CK_RV (*C_SignMessage)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                           CK_ULONG *);
    CK_RV (*C_SignMessageBegin)(CK_SESSION_HANDLE, void *, CK_ULONG);
    CK_RV (*C_SignMessageNext)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                               CK_ULONG *);
    CK_RV (*C_MessageSignFinal)(CK_SESSION_HANDLE);
    CK_RV (*C_MessageVerifyInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
    CK_RV (*C_VerifyMessage)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                             CK_ULONG);
    CK_RV (*C_VerifyMessageBegin)(CK_SESSION_HANDLE, void *, CK_ULONG);
    CK_RV (*C_VerifyMessageNext)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                                 CK_BYTE *, CK_ULONG);
    CK_RV (*C_MessageVerifyFinal)(CK_SESSION_HANDLE);
};

typedef CK_RV (*get_interface_list_fn)(struct h_interface *, CK_ULONG *);
typedef CK_RV (*get_interface_fn)(CK_UTF8CHAR *, CK_VERSION *, struct h_interface **, CK_FLAGS);

/* ---- checking ------------------------------------------------------------------------------ */

static unsigned long checks, failures;

static void expect_rv(int line, const char *call, CK_RV got, const CK_RV *ok, size_t n)
{
    size_t i;
    checks++;
    for (i = 0; i < n; i++) {
        if (got == ok[i]) {
            return;
        }
    }
    failures++;
    fprintf(stderr, "hostile.c:%d: %s\n    returned %s (0x%lx), expected %s", line, call,
            rv_name(got), (unsigned long)got, rv_name(ok[0]));
    for (i = 1; i < n; i++) {
        fprintf(stderr, " or %s", rv_name(ok[i]));
    }
    fputc('\n', stderr);
}

/* EXPECT(call, CKR_X [, CKR_Y ...]): the call must return one of the listed values. */
#define EXPECT(call, ...)                                                                      \
    expect_rv(__LINE__, #call, (call), (const CK_RV[]){__VA_ARGS__},                           \
              sizeof((const CK_RV[]){__VA_ARGS__}) / sizeof(CK_RV))

/* A condition that must hold (counted like a call). */
#define ASSERT(cond)                                                                           \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "hostile.c:%d: %s does not hold\n", __LINE__, #cond);             \
        }                                                                                      \
    } while (0)

#define BAD_SESSION ((CK_SESSION_HANDLE)0xDEADBEEFUL)
#define BAD_OBJECT ((CK_OBJECT_HANDLE)0xBADC0DEUL)
#define BAD_SLOT ((CK_SLOT_ID)4242)
#define HUGE_LEN ((CK_ULONG)1 << 40)
#define NO_MECH ((CK_MECHANISM_TYPE)0x7FFFFFF0UL)

static CK_FUNCTION_LIST *f;
static struct h_function_list_30 *f3;
static const TSB_FUNCTION_LIST *tsb;

/* ---- helpers -------------------------------------------------------------------------------- */

static CK_RV find_key(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label,
                      CK_OBJECT_HANDLE *out)
{
    CK_ATTRIBUTE t[2];
    CK_ULONG n = 0;
    CK_RV rv;
    t[0].type = CKA_CLASS;
    t[0].pValue = &cls;
    t[0].ulValueLen = sizeof cls;
    t[1].type = CKA_LABEL;
    t[1].pValue = (void *)label;
    t[1].ulValueLen = (CK_ULONG)strlen(label);
    rv = f->C_FindObjectsInit(s, t, 2);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = f->C_FindObjects(s, out, 1, &n);
    f->C_FindObjectsFinal(s);
    if (rv == CKR_OK && n != 1) {
        return CKR_OBJECT_HANDLE_INVALID;
    }
    return rv;
}

static CK_RV open_rw(CK_SESSION_HANDLE *s)
{
    return f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
}

/* ---- before C_Initialize (and after C_Finalize) ---------------------------------------------- */

/* Every function of the 2.40 list, with arguments that would otherwise be fine or NULL: only
 * CKR_CRYPTOKI_NOT_INITIALIZED, also for functions the module does not offer at all and for the
 * legacy parallel functions (the standard's error order: initialisation first). */
static void not_initialized(void)
{
    CK_INFO info;
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_INFO mi;
    CK_MECHANISM_TYPE mechs[4];
    CK_SESSION_HANDLE s = 0;
    CK_SESSION_INFO sinfo;
    CK_OBJECT_HANDLE h = 0, h2 = 0;
    CK_ATTRIBUTE a = {CKA_LABEL, NULL, 0};
    CK_MECHANISM m = {CKM_SHA256, NULL, 0};
    CK_BYTE buf[64];
    CK_ULONG len = sizeof buf;
    CK_SLOT_ID slot;
    const CK_RV NI = CKR_CRYPTOKI_NOT_INITIALIZED;

    EXPECT(f->C_Finalize(NULL), NI);
    EXPECT(f->C_GetInfo(&info), NI);
    EXPECT(f->C_GetSlotList(CK_TRUE, slots, &n), NI);
    EXPECT(f->C_GetSlotInfo(0, &si), NI);
    EXPECT(f->C_GetTokenInfo(0, &ti), NI);
    EXPECT(f->C_GetMechanismList(0, mechs, &n), NI);
    EXPECT(f->C_GetMechanismInfo(0, CKM_ECDSA, &mi), NI);
    EXPECT(f->C_InitToken(0, NULL, 0, NULL), NI);
    EXPECT(f->C_InitPIN(1, NULL, 0), NI);
    EXPECT(f->C_SetPIN(1, NULL, 0, NULL, 0), NI);
    EXPECT(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), NI);
    EXPECT(f->C_CloseSession(1), NI);
    EXPECT(f->C_CloseAllSessions(0), NI);
    EXPECT(f->C_GetSessionInfo(1, &sinfo), NI);
    EXPECT(f->C_GetOperationState(1, buf, &len), NI);
    EXPECT(f->C_SetOperationState(1, buf, len, 0, 0), NI);
    EXPECT(f->C_Login(1, CKU_USER, (CK_UTF8CHAR *)"1234", 4), NI);
    EXPECT(f->C_Logout(1), NI);
    EXPECT(f->C_CreateObject(1, &a, 1, &h), NI);
    EXPECT(f->C_CopyObject(1, 1, &a, 1, &h), NI);
    EXPECT(f->C_DestroyObject(1, 1), NI);
    EXPECT(f->C_GetObjectSize(1, 1, &len), NI);
    EXPECT(f->C_GetAttributeValue(1, 1, &a, 1), NI);
    EXPECT(f->C_SetAttributeValue(1, 1, &a, 1), NI);
    EXPECT(f->C_FindObjectsInit(1, &a, 1), NI);
    EXPECT(f->C_FindObjects(1, &h, 1, &n), NI);
    EXPECT(f->C_FindObjectsFinal(1), NI);
    EXPECT(f->C_EncryptInit(1, &m, 1), NI);
    EXPECT(f->C_Encrypt(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_EncryptUpdate(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_EncryptFinal(1, buf, &len), NI);
    EXPECT(f->C_DecryptInit(1, &m, 1), NI);
    EXPECT(f->C_Decrypt(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_DecryptUpdate(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_DecryptFinal(1, buf, &len), NI);
    EXPECT(f->C_DigestInit(1, &m), NI);
    EXPECT(f->C_Digest(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_DigestUpdate(1, buf, 1), NI);
    EXPECT(f->C_DigestKey(1, 1), NI);
    EXPECT(f->C_DigestFinal(1, buf, &len), NI);
    EXPECT(f->C_SignInit(1, &m, 1), NI);
    EXPECT(f->C_Sign(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_SignUpdate(1, buf, 1), NI);
    EXPECT(f->C_SignFinal(1, buf, &len), NI);
    EXPECT(f->C_SignRecoverInit(1, &m, 1), NI);
    EXPECT(f->C_SignRecover(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_VerifyInit(1, &m, 1), NI);
    EXPECT(f->C_Verify(1, buf, 1, buf, 1), NI);
    EXPECT(f->C_VerifyUpdate(1, buf, 1), NI);
    EXPECT(f->C_VerifyFinal(1, buf, 1), NI);
    EXPECT(f->C_VerifyRecoverInit(1, &m, 1), NI);
    EXPECT(f->C_VerifyRecover(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_DigestEncryptUpdate(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_DecryptDigestUpdate(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_SignEncryptUpdate(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_DecryptVerifyUpdate(1, buf, 1, buf, &len), NI);
    EXPECT(f->C_GenerateKey(1, &m, &a, 1, &h), NI);
    EXPECT(f->C_GenerateKeyPair(1, &m, &a, 1, &a, 1, &h, &h2), NI);
    EXPECT(f->C_WrapKey(1, &m, 1, 1, buf, &len), NI);
    EXPECT(f->C_UnwrapKey(1, &m, 1, buf, 1, &a, 1, &h), NI);
    EXPECT(f->C_DeriveKey(1, &m, 1, &a, 1, &h), NI);
    EXPECT(f->C_SeedRandom(1, buf, 1), NI);
    EXPECT(f->C_GenerateRandom(1, buf, 8), NI);
    EXPECT(f->C_GetFunctionStatus(1), NI);
    EXPECT(f->C_CancelFunction(1), NI);
    EXPECT(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), NI);
    /* 3.0 additions. */
    EXPECT(f3->C_LoginUser(1, CKU_USER, (CK_UTF8CHAR *)"1", 1, (CK_UTF8CHAR *)"u", 1), NI);
    EXPECT(f3->C_SessionCancel(1, CKF_SIGN), NI);
    /* Vendor functions. */
    {
        struct TSB_REQUEST_INFO ri;
        EXPECT(tsb->TSB_GetRequestStatus(1, "id", &ri, NULL, NULL), NI);
        EXPECT(tsb->TSB_CancelRequest(1, "id"), NI);
        EXPECT(tsb->TSB_GetLastRequestId(1, (char *)buf, &len), NI);
        EXPECT(tsb->TSB_CreateCSR(1, 1, NULL, NULL, &len), NI);
        EXPECT(tsb->TSB_SelfSignCertificate(1, 1, NULL, &h), NI);
        EXPECT(tsb->TSB_IssueCertificate(1, 1, buf, 1, NULL, NULL, &len), NI);
    }
}

/* ---- C_Initialize and C_Finalize themselves --------------------------------------------------- */

static CK_RV ok_mutex_create(void **m)
{
    *m = NULL;
    return CKR_OK;
}

static CK_RV ok_mutex_op(void *m)
{
    (void)m;
    return CKR_OK;
}

static void initialize_arguments(void)
{
    CK_C_INITIALIZE_ARGS args;

    memset(&args, 0, sizeof args);
    args.pReserved = &args;
    EXPECT(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
    memset(&args, 0, sizeof args);
    args.CreateMutex = ok_mutex_create;
    EXPECT(f->C_Initialize(&args), CKR_ARGUMENTS_BAD); /* only one of four mutex functions */
    args.DestroyMutex = ok_mutex_op;
    args.LockMutex = ok_mutex_op;
    args.UnlockMutex = ok_mutex_op;
    EXPECT(f->C_Initialize(&args), CKR_CANT_LOCK); /* app mutexes without CKF_OS_LOCKING_OK */
    EXPECT(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    /* What p11-kit passes: accepted. */
    memset(&args, 0, sizeof args);
    args.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
    EXPECT(f->C_Initialize(&args), CKR_OK);
    EXPECT(f->C_Initialize(&args), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    EXPECT(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    EXPECT(f->C_Finalize(&args), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_Finalize(NULL), CKR_OK);
    EXPECT(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    args.flags = CKF_OS_LOCKING_OK;
    args.CreateMutex = ok_mutex_create;
    args.DestroyMutex = ok_mutex_op;
    args.LockMutex = ok_mutex_op;
    args.UnlockMutex = ok_mutex_op;
    EXPECT(f->C_Initialize(&args), CKR_OK); /* app mutexes offered, OS locking preferred */
    EXPECT(f->C_Finalize(NULL), CKR_OK);
    EXPECT(f->C_Initialize(NULL), CKR_OK);
}

/* ---- general, slot and token functions ------------------------------------------------------ */

static void slots_and_tokens(void)
{
    CK_INFO info;
    CK_SLOT_ID slots[2];
    CK_ULONG n = 0;
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_INFO mi;
    CK_MECHANISM_TYPE mechs[64];
    CK_SLOT_ID slot;
    CK_FUNCTION_LIST *list = NULL;

    EXPECT(f->C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetFunctionList(&list), CKR_OK);
    ASSERT(list == f);
    EXPECT(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetInfo(&info), CKR_OK);
    ASSERT(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40);
    EXPECT(f->C_GetSlotList(CK_TRUE, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetSlotList(CK_TRUE, slots, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
    ASSERT(n == 1);
    n = 0;
    EXPECT(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_BUFFER_TOO_SMALL);
    ASSERT(n == 1);
    n = 2;
    EXPECT(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    ASSERT(n == 1 && slots[0] == 0);
    EXPECT(f->C_GetSlotInfo(BAD_SLOT, &si), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_GetSlotInfo(0, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetSlotInfo(0, &si), CKR_OK);
    EXPECT(f->C_GetSlotInfo((CK_SLOT_ID)-1, &si), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_GetTokenInfo(BAD_SLOT, &ti), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_GetTokenInfo(0, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetTokenInfo(0, &ti), CKR_OK);
    EXPECT(f->C_GetMechanismList(0, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetMechanismList(BAD_SLOT, NULL, &n), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_GetMechanismList(0, NULL, &n), CKR_OK);
    ASSERT(n > 1 && n <= 64);
    {
        CK_ULONG all = n;
        n = 1;
        EXPECT(f->C_GetMechanismList(0, mechs, &n), CKR_BUFFER_TOO_SMALL);
        ASSERT(n == all);
        n = 64;
        EXPECT(f->C_GetMechanismList(0, mechs, &n), CKR_OK);
        ASSERT(n == all);
    }
    EXPECT(f->C_GetMechanismInfo(0, NO_MECH, &mi), CKR_MECHANISM_INVALID);
    EXPECT(f->C_GetMechanismInfo(0, CKM_ECDSA, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetMechanismInfo(BAD_SLOT, CKM_ECDSA, &mi), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_GetMechanismInfo(0, CKM_ECDSA, &mi), CKR_OK);
    EXPECT(f->C_InitToken(0, NULL, HUGE_LEN, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_InitToken(BAD_SLOT, NULL, 0, NULL), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_WaitForSlotEvent(0, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_FUNCTION_NOT_SUPPORTED);
}

/* ---- sessions and login ---------------------------------------------------------------------- */

static void sessions(void)
{
    CK_SESSION_HANDLE s = 0, s2 = 0;
    CK_SESSION_INFO si;

    EXPECT(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_OpenSession(0, 0, NULL, NULL, &s), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    EXPECT(f->C_OpenSession(BAD_SLOT, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_CloseSession(BAD_SESSION), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_CloseSession(0), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_CloseAllSessions(BAD_SLOT), CKR_SLOT_ID_INVALID);
    EXPECT(f->C_GetSessionInfo(BAD_SESSION, &si), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    EXPECT(f->C_GetSessionInfo(s, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetSessionInfo(s, &si), CKR_OK);
    ASSERT(si.state == CKS_RO_PUBLIC_SESSION && si.ulDeviceError == 0);
    EXPECT(f->C_InitPIN(s, NULL, HUGE_LEN), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SetPIN(s, NULL, HUGE_LEN, NULL, HUGE_LEN), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetOperationState(s, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f->C_SetOperationState(s, NULL, HUGE_LEN, BAD_OBJECT, BAD_OBJECT),
           CKR_FUNCTION_NOT_SUPPORTED);
    /* Login: bad session, bad user types, a PIN pointer with a huge length. */
    EXPECT(f->C_Login(BAD_SESSION, CKU_USER, NULL, 0), CKR_SESSION_HANDLE_INVALID);
    /* The SO never logs in while a read-only session is open (s is one). */
    EXPECT(f->C_Login(s, CKU_SO, NULL, 0), CKR_SESSION_READ_ONLY_EXISTS);
    EXPECT(f->C_Login(s, 77, NULL, 0), CKR_USER_TYPE_INVALID);
    EXPECT(f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"1234", HUGE_LEN), CKR_DATA_LEN_RANGE,
           CKR_ARGUMENTS_BAD, CKR_PIN_LEN_RANGE);
    EXPECT(f->C_Logout(s), CKR_USER_NOT_LOGGED_IN);
    EXPECT(f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"1234", 4), CKR_OK);
    EXPECT(f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"1234", 4), CKR_USER_ALREADY_LOGGED_IN);
    /* A context-specific login is for an operation in progress; there is none. */
    EXPECT(f->C_Login(s, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR *)"1234", 4),
           CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_GetSessionInfo(s, &si), CKR_OK);
    ASSERT(si.state == CKS_RO_USER_FUNCTIONS);
    EXPECT(f->C_Logout(BAD_SESSION), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_Logout(s), CKR_OK);
    EXPECT(f->C_Logout(s), CKR_USER_NOT_LOGGED_IN);
    EXPECT(f3->C_LoginUser(BAD_SESSION, CKU_USER, NULL, 0, NULL, 0), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR *)"1234", 4, NULL, 5), CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR *)"1234", 4, (CK_UTF8CHAR *)"me", 2),
           CKR_OK);
    EXPECT(f->C_Logout(s), CKR_OK);
    /* Closing twice, closing all. */
    EXPECT(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
    ASSERT(s2 != s);
    EXPECT(f->C_CloseSession(s2), CKR_OK);
    EXPECT(f->C_CloseSession(s2), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_GetSessionInfo(s2, &si), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_CloseAllSessions(0), CKR_OK);
    EXPECT(f->C_GetSessionInfo(s, &si), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_CloseAllSessions(0), CKR_OK);
    /* C_SessionCancel: bad session; every flag on a session with nothing active. */
    EXPECT(f3->C_SessionCancel(BAD_SESSION, CKF_SIGN), CKR_SESSION_HANDLE_INVALID);
    EXPECT(open_rw(&s), CKR_OK);
    EXPECT(f3->C_SessionCancel(s, ~(CK_FLAGS)0), CKR_OK);
    EXPECT(f->C_CloseSession(s), CKR_OK);
}

/* ---- objects: find, attributes, create, destroy ------------------------------------------------ */

static void objects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ec_pub)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_BYTE buf[256];
    CK_ATTRIBUTE a;
    CK_ATTRIBUTE t[3];
    CK_OBJECT_HANDLE hs[4], h = 0;
    CK_ULONG n = 0;

    /* Find: NULL template with a count, absurd lengths, double init, calls without init. */
    EXPECT(f->C_FindObjectsInit(BAD_SESSION, NULL, 0), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_FindObjectsInit(s, NULL, 1), CKR_ARGUMENTS_BAD);
    a.type = CKA_LABEL;
    a.pValue = NULL;
    a.ulValueLen = 5;
    EXPECT(f->C_FindObjectsInit(s, &a, 1), CKR_ARGUMENTS_BAD);
    a.pValue = buf;
    a.ulValueLen = HUGE_LEN;
    EXPECT(f->C_FindObjectsInit(s, &a, 1), CKR_ATTRIBUTE_VALUE_INVALID);
    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
    EXPECT(f->C_FindObjectsInit(s, &a, 1), CKR_ATTRIBUTE_VALUE_INVALID);
    EXPECT(f->C_FindObjectsInit(s, &a, HUGE_LEN), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_FindObjects(s, hs, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    t[0].type = CKA_CLASS;
    t[0].pValue = &cls;
    t[0].ulValueLen = sizeof cls;
    EXPECT(f->C_FindObjectsInit(s, t, 1), CKR_OK);
    EXPECT(f->C_FindObjectsInit(s, t, 1), CKR_OPERATION_ACTIVE);
    EXPECT(f->C_FindObjects(s, NULL, 4, &n), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_FindObjects(s, hs, 4, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_FindObjects(s, hs, 0, &n), CKR_OK);
    ASSERT(n == 0);
    EXPECT(f->C_FindObjects(s, hs, 4, &n), CKR_OK);
    ASSERT(n == 2);
    EXPECT(f->C_FindObjects(s, hs, 4, &n), CKR_OK);
    ASSERT(n == 0);
    EXPECT(f->C_FindObjectsFinal(s), CKR_OK);
    EXPECT(f->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    /* A class value of the wrong size finds nothing (it matches no object). */
    t[0].ulValueLen = 3;
    EXPECT(f->C_FindObjectsInit(s, t, 1), CKR_OK);
    EXPECT(f->C_FindObjects(s, hs, 4, &n), CKR_OK);
    ASSERT(n == 0);
    EXPECT(f->C_FindObjectsFinal(s), CKR_OK);

    /* Attributes: invalid handles, NULL template, length queries, short buffers, unknown and
     * sensitive attributes (every one processed, CK_UNAVAILABLE_INFORMATION where it fails). */
    a.type = CKA_LABEL;
    a.pValue = NULL;
    a.ulValueLen = 0;
    EXPECT(f->C_GetAttributeValue(s, BAD_OBJECT, &a, 1), CKR_OBJECT_HANDLE_INVALID);
    EXPECT(f->C_GetAttributeValue(s, 0, &a, 1), CKR_OBJECT_HANDLE_INVALID);
    EXPECT(f->C_GetAttributeValue(BAD_SESSION, ec, &a, 1), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_GetAttributeValue(s, ec, NULL, 1), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GetAttributeValue(s, ec, &a, 0), CKR_OK);
    EXPECT(f->C_GetAttributeValue(s, ec, &a, 1), CKR_OK);
    ASSERT(a.ulValueLen == strlen("hostile-ec"));
    a.pValue = buf;
    a.ulValueLen = 3;
    EXPECT(f->C_GetAttributeValue(s, ec, &a, 1), CKR_BUFFER_TOO_SMALL);
    ASSERT(a.ulValueLen == CK_UNAVAILABLE_INFORMATION);
    a.ulValueLen = sizeof buf;
    EXPECT(f->C_GetAttributeValue(s, ec, &a, 1), CKR_OK);
    ASSERT(a.ulValueLen == strlen("hostile-ec") && memcmp(buf, "hostile-ec", 10) == 0);
    t[0].type = CKA_VALUE; /* sensitive on a private key */
    t[0].pValue = buf;
    t[0].ulValueLen = sizeof buf;
    t[1].type = 0x7FFF1234UL; /* no such attribute */
    t[1].pValue = buf;
    t[1].ulValueLen = sizeof buf;
    t[2].type = CKA_KEY_TYPE;
    t[2].pValue = NULL;
    t[2].ulValueLen = 0;
    EXPECT(f->C_GetAttributeValue(s, ec, t, 3), CKR_ATTRIBUTE_SENSITIVE,
           CKR_ATTRIBUTE_TYPE_INVALID);
    ASSERT(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    ASSERT(t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    ASSERT(t[2].ulValueLen == sizeof(CK_KEY_TYPE));
    /* A huge length with a real (small) buffer: only the real value is written. */
    a.type = CKA_EC_POINT;
    a.pValue = buf;
    a.ulValueLen = HUGE_LEN;
    EXPECT(f->C_GetAttributeValue(s, ec_pub, &a, 1), CKR_OK);
    ASSERT(a.ulValueLen == 67);

    /* Set, create, copy, destroy. */
    a.type = CKA_LABEL;
    a.pValue = buf;
    a.ulValueLen = HUGE_LEN;
    EXPECT(f->C_SetAttributeValue(s, ec, &a, 1), CKR_ATTRIBUTE_VALUE_INVALID);
    a.ulValueLen = 4;
    EXPECT(f->C_SetAttributeValue(s, ec, &a, 1), CKR_ACTION_PROHIBITED);
    EXPECT(f->C_SetAttributeValue(s, BAD_OBJECT, &a, 1), CKR_OBJECT_HANDLE_INVALID);
    EXPECT(f->C_SetAttributeValue(s, ec, NULL, 1), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_CreateObject(s, NULL, 1, &h), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_CreateObject(s, &a, 1, NULL), CKR_ARGUMENTS_BAD);
    a.ulValueLen = HUGE_LEN;
    EXPECT(f->C_CreateObject(s, &a, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID);
    EXPECT(f->C_CreateObject(s, NULL, 0, &h), CKR_TEMPLATE_INCOMPLETE);
    cls = CKO_SECRET_KEY;
    t[0].type = CKA_CLASS;
    t[0].pValue = &cls;
    t[0].ulValueLen = sizeof cls;
    /* A secret key without CKA_KEY_TYPE and CKA_VALUE. */
    EXPECT(f->C_CreateObject(s, t, 1, &h), CKR_TEMPLATE_INCOMPLETE);
    cls = CKO_CERTIFICATE;
    t[1].type = CKA_VALUE; /* not a certificate */
    t[1].pValue = buf;
    t[1].ulValueLen = 10;
    memset(buf, 0x30, 10);
    EXPECT(f->C_CreateObject(s, t, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
    EXPECT(f->C_CopyObject(s, ec, NULL, HUGE_LEN, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_CopyObject(s, ec, NULL, 0, &h), CKR_ACTION_PROHIBITED);
    EXPECT(f->C_GetObjectSize(s, ec, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DestroyObject(s, BAD_OBJECT), CKR_OBJECT_HANDLE_INVALID);
    EXPECT(f->C_DestroyObject(BAD_SESSION, ec), CKR_SESSION_HANDLE_INVALID);
}

/* ---- key generation, random ------------------------------------------------------------------ */

static void generation(CK_SESSION_HANDLE s, CK_SESSION_HANDLE ro)
{
    CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_MECHANISM bad_param = {CKM_EC_KEY_PAIR_GEN, NULL, 8};
    CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE pub[1], priv[1];
    CK_OBJECT_HANDLE hp = 0, hk = 0;
    CK_BYTE buf[64];

    pub[0].type = CKA_EC_PARAMS;
    pub[0].pValue = p256;
    pub[0].ulValueLen = sizeof p256;
    priv[0].type = CKA_LABEL;
    priv[0].pValue = (void *)"bad/label";
    priv[0].ulValueLen = 9;
    EXPECT(f->C_GenerateKeyPair(s, NULL, pub, 1, priv, 1, &hp, &hk), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GenerateKeyPair(s, &m, pub, 1, priv, 1, NULL, &hk), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GenerateKeyPair(s, &m, pub, 1, priv, 1, &hp, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GenerateKeyPair(s, &m, NULL, 1, priv, 1, &hp, &hk), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GenerateKeyPair(s, &bad_param, pub, 1, priv, 1, &hp, &hk),
           CKR_MECHANISM_PARAM_INVALID);
    m.mechanism = CKM_AES_KEY_GEN;
    EXPECT(f->C_GenerateKeyPair(s, &m, pub, 1, priv, 1, &hp, &hk), CKR_MECHANISM_INVALID);
    m.mechanism = CKM_EC_KEY_PAIR_GEN;
    EXPECT(f->C_GenerateKeyPair(s, &m, pub, 1, priv, 1, &hp, &hk), CKR_ATTRIBUTE_VALUE_INVALID);
    /* No CKA_TOKEN, no CKA_LABEL: a session key pair with a generated TSB label. */
    EXPECT(f->C_GenerateKeyPair(s, &m, pub, 1, NULL, 0, &hp, &hk), CKR_OK);
    priv[0].ulValueLen = HUGE_LEN;
    EXPECT(f->C_GenerateKeyPair(s, &m, pub, 1, priv, 1, &hp, &hk), CKR_ATTRIBUTE_VALUE_INVALID);
    priv[0].pValue = (void *)"ok-label";
    priv[0].ulValueLen = 8;
    /* Session objects may be made in a read-only session. */
    EXPECT(f->C_GenerateKeyPair(ro, &m, pub, 1, priv, 1, &hp, &hk), CKR_OK);
    EXPECT(f->C_GenerateKeyPair(BAD_SESSION, &m, pub, 1, priv, 1, &hp, &hk),
           CKR_SESSION_HANDLE_INVALID);
    /* Secret keys (issue 16): a key-pair mechanism, NULL pointers, a huge wrapped length. */
    EXPECT(f->C_GenerateKey(s, &m, priv, 1, &hk), CKR_MECHANISM_INVALID);
    EXPECT(f->C_GenerateKey(s, &m, priv, 1, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GenerateKey(s, NULL, priv, 1, &hk), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_WrapKey(s, &m, hk, hk, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_UnwrapKey(s, &m, hk, NULL, HUGE_LEN, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_UnwrapKey(s, &m, hk, NULL, HUGE_LEN, NULL, 0, &hk), CKR_ARGUMENTS_BAD);
    /* Key derivation (issue 12): NULL pointers, a parameter of the wrong size or with NULL data,
     * an unknown base key, a key-pair key as the base; refused before anything is sent. */
    CK_KEY_DERIVATION_STRING_DATA kd = {NULL, 16};
    CK_MECHANISM ecb_data = {CKM_AES_ECB_ENCRYPT_DATA, &kd, sizeof kd};
    CK_MECHANISM short_param = {CKM_AES_ECB_ENCRYPT_DATA, &kd, sizeof kd - 1};
    CK_MECHANISM no_param = {CKM_AES_CBC_ENCRYPT_DATA, NULL, 8};
    memset(buf, 0x11, sizeof buf);
    EXPECT(f->C_DeriveKey(s, NULL, 0, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DeriveKey(s, &ecb_data, hk, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DeriveKey(s, &ecb_data, hk, NULL, 0, &hp), CKR_MECHANISM_PARAM_INVALID);
    EXPECT(f->C_DeriveKey(s, &short_param, hk, NULL, 0, &hp), CKR_MECHANISM_PARAM_INVALID);
    EXPECT(f->C_DeriveKey(s, &no_param, hk, NULL, 0, &hp), CKR_MECHANISM_PARAM_INVALID);
    kd.pData = buf;
    EXPECT(f->C_DeriveKey(s, &ecb_data, BAD_OBJECT, NULL, 0, &hp), CKR_KEY_HANDLE_INVALID);
    EXPECT(f->C_DeriveKey(s, &ecb_data, hk, NULL, 0, &hp), CKR_KEY_TYPE_INCONSISTENT);
    EXPECT(f->C_DeriveKey(s, &ecb_data, hk, NULL, 1, &hp), CKR_ARGUMENTS_BAD);
    {
        /* AES MACs and the SP 800-108 KDFs (PKCS#11 3.0; p11-kit's header lacks the KDFs'
         * structures): absurd lengths, widths and counts, NULL with a length, all refused before
         * anything is read through them or sent. */
        struct counter_format {
            CK_BBOOL bLittleEndian;
            CK_ULONG ulWidthInBits;
        };
        struct dkm_format {
            CK_ULONG dkmLengthMethod;
            CK_BBOOL bLittleEndian;
            CK_ULONG ulWidthInBits;
        };
        struct prf_data_param {
            CK_ULONG type;
            CK_VOID_PTR pValue;
            CK_ULONG ulValueLen;
        };
        struct derived_key {
            CK_ATTRIBUTE_PTR pTemplate;
            CK_ULONG ulAttributeCount;
            CK_OBJECT_HANDLE_PTR phKey;
        };
        struct kdf_params {
            CK_MECHANISM_TYPE prfType;
            CK_ULONG ulNumberOfDataParams;
            struct prf_data_param *pDataParams;
            CK_ULONG ulAdditionalDerivedKeys;
            struct derived_key *pAdditionalDerivedKeys;
        };
        struct feedback_params {
            CK_MECHANISM_TYPE prfType;
            CK_ULONG ulNumberOfDataParams;
            struct prf_data_param *pDataParams;
            CK_ULONG ulIVLen;
            CK_BYTE_PTR pIV;
            CK_ULONG ulAdditionalDerivedKeys;
            struct derived_key *pAdditionalDerivedKeys;
        };
        const CK_MECHANISM_TYPE counter_kdf = 0x3ac, feedback_kdf = 0x3ad;
        const CK_ULONG iteration = 1, counter = 2, dkm = 3, bytes = 4;
        CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
        CK_ULONG sixteen = 16, huge_len = HUGE_LEN, mac_len = 0;
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE aes[] = {
            {CKA_VALUE_LEN, &sixteen, sizeof sixteen},
            {CKA_SIGN, &yes, sizeof yes},
            {CKA_DERIVE, &yes, sizeof yes},
        };
        CK_ATTRIBUTE out_t[] = {
            {CKA_VALUE_LEN, &huge_len, sizeof huge_len},
        };
        CK_OBJECT_HANDLE aes_key = 0, extra = 0;
        CK_MECHANISM mac = {CKM_AES_CMAC_GENERAL, NULL, sizeof mac_len};
        struct counter_format fmt = {CK_FALSE, 32};
        struct dkm_format dfmt = {1, CK_FALSE, 32};
        struct prf_data_param dp[2] = {{iteration, &fmt, sizeof fmt}, {bytes, buf, 16}};
        struct derived_key dk = {out_t, 1, NULL};
        struct kdf_params kp = {CKM_AES_CMAC, 2, dp, 0, NULL};
        struct feedback_params fp = {CKM_AES_CMAC, 1, dp, HUGE_LEN, NULL, 0, NULL};
        CK_MECHANISM kdf = {counter_kdf, &kp, sizeof kp};
        CK_MECHANISM fb = {feedback_kdf, &fp, sizeof fp};
        CK_ULONG widths[] = {0, 7, 64, 65, HUGE_LEN};
        CK_ULONG len;
        size_t i;

        EXPECT(f->C_GenerateKey(s, &gen, aes, 3, &aes_key), CKR_OK);
        /* CK_MAC_GENERAL_PARAMS: NULL, 0, 17 and a huge length; a parameter of the wrong size. */
        EXPECT(f->C_SignInit(s, &mac, aes_key), CKR_MECHANISM_PARAM_INVALID);
        mac.pParameter = &mac_len;
        EXPECT(f->C_SignInit(s, &mac, aes_key), CKR_MECHANISM_PARAM_INVALID);
        mac_len = 17;
        EXPECT(f->C_SignInit(s, &mac, aes_key), CKR_MECHANISM_PARAM_INVALID);
        mac_len = HUGE_LEN;
        EXPECT(f->C_VerifyInit(s, &mac, aes_key), CKR_MECHANISM_PARAM_INVALID);
        mac.ulParameterLen = HUGE_LEN;
        EXPECT(f->C_SignInit(s, &mac, aes_key), CKR_MECHANISM_PARAM_INVALID);
        mac.mechanism = CKM_AES_CMAC;
        EXPECT(f->C_SignInit(s, &mac, aes_key), CKR_MECHANISM_PARAM_INVALID);
        /* A MAC of a huge length, NULL or not; a signature of a huge length. */
        mac.pParameter = NULL;
        mac.ulParameterLen = 0;
        EXPECT(f->C_SignInit(s, &mac, aes_key), CKR_OK);
        len = sizeof buf;
        EXPECT(f->C_Sign(s, NULL, HUGE_LEN, buf, &len), CKR_ARGUMENTS_BAD);
        EXPECT(f->C_SignInit(s, &mac, aes_key), CKR_OK);
        EXPECT(f->C_SignUpdate(s, buf, HUGE_LEN), CKR_DATA_LEN_RANGE);
        EXPECT(f->C_SignFinal(s, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
        /* The KDFs: counter and DKM widths of 0, not whole bytes, 64 (a counter), 65, huge. */
        for (i = 0; i < sizeof widths / sizeof widths[0]; i++) {
            fmt.ulWidthInBits = widths[i];
            EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        }
        fmt.ulWidthInBits = 32;
        dp[1].type = dkm;
        dp[1].pValue = &dfmt;
        dp[1].ulValueLen = sizeof dfmt;
        for (i = 0; i < sizeof widths / sizeof widths[0]; i++) {
            if (widths[i] == 64)
                continue; /* a 64-bit DKM length is valid */
            dfmt.ulWidthInBits = widths[i];
            EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        }
        dfmt.ulWidthInBits = 32;
        dfmt.dkmLengthMethod = HUGE_LEN;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        /* NULL with a length: the iteration variable (as long as its format), a byte array. */
        dp[0].pValue = NULL;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        dp[0].pValue = &fmt;
        dp[1].type = bytes;
        dp[1].pValue = NULL;
        dp[1].ulValueLen = HUGE_LEN;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        dp[1].pValue = buf;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        dp[1].ulValueLen = 16;
        dp[1].type = counter; /* counter mode takes no separate counter */
        dp[1].pValue = &fmt;
        dp[1].ulValueLen = sizeof fmt;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        dp[1].type = 0xdeadUL;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        dp[1].type = bytes;
        dp[1].pValue = buf;
        dp[1].ulValueLen = 16;
        /* Counts: huge, NULL arrays with a count, a NULL phKey, an absurd CKA_VALUE_LEN. */
        kp.ulNumberOfDataParams = HUGE_LEN;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        kp.ulNumberOfDataParams = 2;
        kp.pDataParams = NULL;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        kp.pDataParams = dp;
        kp.ulAdditionalDerivedKeys = HUGE_LEN;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        kp.ulAdditionalDerivedKeys = 1;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        kp.pAdditionalDerivedKeys = &dk;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        dk.phKey = &extra;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_ATTRIBUTE_VALUE_INVALID);
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, out_t, 1, &hp), CKR_ATTRIBUTE_VALUE_INVALID);
        kp.ulAdditionalDerivedKeys = 0;
        kp.pAdditionalDerivedKeys = NULL;
        kdf.ulParameterLen = HUGE_LEN;
        EXPECT(f->C_DeriveKey(s, &kdf, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        kdf.ulParameterLen = sizeof kp;
        /* Feedback: a NULL IV with a huge length, then a huge IV. */
        dp[0].pValue = NULL;
        dp[0].ulValueLen = 0;
        EXPECT(f->C_DeriveKey(s, &fb, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        fp.pIV = buf;
        EXPECT(f->C_DeriveKey(s, &fb, aes_key, aes, 1, &hp), CKR_MECHANISM_PARAM_INVALID);
        EXPECT(f->C_DestroyObject(s, aes_key), CKR_OK);
    }
    /* Random. */
    EXPECT(f->C_SeedRandom(s, NULL, 5), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SeedRandom(s, buf, 5), CKR_RANDOM_SEED_NOT_SUPPORTED);
    EXPECT(f->C_SeedRandom(BAD_SESSION, buf, 5), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_GenerateRandom(s, NULL, 16), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_GenerateRandom(s, NULL, 0), CKR_OK);
    EXPECT(f->C_GenerateRandom(s, buf, HUGE_LEN), CKR_DATA_LEN_RANGE);
    EXPECT(f->C_GenerateRandom(BAD_SESSION, buf, 16), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f->C_GenerateRandom(s, buf, sizeof buf), CKR_OK);
}

/* ---- signing and verifying --------------------------------------------------------------------- */

static void signing(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ec_pub,
                    CK_OBJECT_HANDLE rsa)
{
    CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
    CK_MECHANISM sha = {CKM_ECDSA_SHA256, NULL, 0};
    CK_MECHANISM junk = {NO_MECH, NULL, 0};
    CK_MECHANISM bad_param = {CKM_ECDSA, NULL, 16};
    CK_MECHANISM huge_param = {CKM_RSA_PKCS_PSS, NULL, HUGE_LEN};
    CK_BYTE digest[32], sig[512], sig2[64];
    CK_ULONG len;

    memset(digest, 0x5a, sizeof digest);
    huge_param.pParameter = sig;
    /* Init: NULL and unknown mechanisms, bad parameters, bad and mismatched keys. */
    EXPECT(f->C_SignInit(s, NULL, ec), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SignInit(s, &junk, ec), CKR_MECHANISM_INVALID);
    EXPECT(f->C_SignInit(s, &bad_param, ec), CKR_MECHANISM_PARAM_INVALID);
    EXPECT(f->C_SignInit(s, &huge_param, rsa), CKR_MECHANISM_PARAM_INVALID);
    EXPECT(f->C_SignInit(s, &ecdsa, BAD_OBJECT), CKR_KEY_HANDLE_INVALID);
    EXPECT(f->C_SignInit(s, &ecdsa, rsa), CKR_KEY_TYPE_INCONSISTENT);
    EXPECT(f->C_SignInit(s, &ecdsa, ec_pub), CKR_KEY_TYPE_INCONSISTENT);
    EXPECT(f->C_SignInit(BAD_SESSION, &ecdsa, ec), CKR_SESSION_HANDLE_INVALID);
    /* Without init. */
    len = sizeof sig;
    EXPECT(f->C_Sign(s, digest, 32, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_SignUpdate(s, digest, 32), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* Double init; length query, too-small buffer, then the signature. */
    EXPECT(f->C_SignInit(s, &ecdsa, ec), CKR_OK);
    EXPECT(f->C_SignInit(s, &ecdsa, ec), CKR_OPERATION_ACTIVE);
    len = 0;
    EXPECT(f->C_Sign(s, digest, 32, NULL, &len), CKR_OK);
    ASSERT(len == 64);
    len = 10;
    EXPECT(f->C_Sign(s, digest, 32, sig, &len), CKR_BUFFER_TOO_SMALL);
    ASSERT(len == 64);
    EXPECT(f->C_SignFinal(s, sig, &len), CKR_OPERATION_ACTIVE); /* committed to C_Sign: ends */
    EXPECT(f->C_Sign(s, digest, 32, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_SignInit(s, &ecdsa, ec), CKR_OK);
    len = sizeof sig;
    EXPECT(f->C_Sign(s, digest, 32, sig, &len), CKR_OK);
    ASSERT(len == 64);
    EXPECT(f->C_Sign(s, digest, 32, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* Argument errors end the operation. */
    EXPECT(f->C_SignInit(s, &ecdsa, ec), CKR_OK);
    EXPECT(f->C_Sign(s, digest, 32, sig, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SignInit(s, &ecdsa, ec), CKR_OK);
    EXPECT(f->C_Sign(s, NULL, 32, sig, &len), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SignInit(s, &ecdsa, ec), CKR_OK);
    len = sizeof sig;
    EXPECT(f->C_Sign(s, digest, HUGE_LEN, sig, &len), CKR_DATA_LEN_RANGE, CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SignInit(s, &ecdsa, ec), CKR_OK);
    EXPECT(f->C_Sign(s, digest, 0, sig, &len), CKR_DATA_LEN_RANGE);
    /* Multi-part: NULL part with a length ends it; Update then C_Sign is refused and ends it. */
    EXPECT(f->C_SignInit(s, &sha, ec), CKR_OK);
    EXPECT(f->C_SignUpdate(s, NULL, 4), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_SignInit(s, &sha, ec), CKR_OK);
    EXPECT(f->C_SignUpdate(s, digest, 32), CKR_OK);
    EXPECT(f->C_SignUpdate(s, NULL, 0), CKR_OK);
    EXPECT(f->C_Sign(s, digest, 32, sig, &len), CKR_OPERATION_ACTIVE);
    EXPECT(f->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_SignInit(s, &sha, ec), CKR_OK);
    EXPECT(f->C_SignUpdate(s, digest, 32), CKR_OK);
    EXPECT(f->C_SignFinal(s, sig, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_SignInit(s, &sha, ec), CKR_OK);
    EXPECT(f->C_SignUpdate(s, digest, 32), CKR_OK);
    len = 0;
    EXPECT(f->C_SignFinal(s, NULL, &len), CKR_OK);
    ASSERT(len == 64);
    len = 1;
    EXPECT(f->C_SignFinal(s, sig2, &len), CKR_BUFFER_TOO_SMALL);
    len = sizeof sig2;
    EXPECT(f->C_SignFinal(s, sig2, &len), CKR_OK);
    ASSERT(len == 64);
    EXPECT(f->C_SignRecoverInit(s, &ecdsa, ec), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f->C_SignRecover(s, NULL, HUGE_LEN, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f->C_SignEncryptUpdate(s, NULL, HUGE_LEN, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);

    /* Verify the ECDSA signature made above (sig, over digest). */
    EXPECT(f->C_VerifyInit(s, NULL, ec_pub), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_VerifyInit(s, &junk, ec_pub), CKR_MECHANISM_INVALID);
    EXPECT(f->C_VerifyInit(s, &ecdsa, BAD_OBJECT), CKR_KEY_HANDLE_INVALID);
    EXPECT(f->C_VerifyInit(s, &ecdsa, rsa), CKR_KEY_TYPE_INCONSISTENT);
    EXPECT(f->C_Verify(s, digest, 32, sig, 64), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_VerifyUpdate(s, digest, 32), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_VerifyFinal(s, sig, 64), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_VerifyInit(s, &ecdsa, ec_pub), CKR_OK);
    EXPECT(f->C_VerifyInit(s, &ecdsa, ec_pub), CKR_OPERATION_ACTIVE);
    EXPECT(f->C_Verify(s, digest, 32, NULL, 64), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_VerifyInit(s, &ecdsa, ec_pub), CKR_OK);
    EXPECT(f->C_Verify(s, digest, 32, sig, 63), CKR_SIGNATURE_LEN_RANGE);
    EXPECT(f->C_VerifyInit(s, &ecdsa, ec_pub), CKR_OK);
    EXPECT(f->C_Verify(s, digest, 32, sig, HUGE_LEN), CKR_DATA_LEN_RANGE, CKR_ARGUMENTS_BAD);
    EXPECT(f->C_VerifyInit(s, &ecdsa, ec_pub), CKR_OK);
    sig[5] ^= 1;
    EXPECT(f->C_Verify(s, digest, 32, sig, 64), CKR_SIGNATURE_INVALID);
    sig[5] ^= 1;
    EXPECT(f->C_Verify(s, digest, 32, sig, 64), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_VerifyInit(s, &ecdsa, ec_pub), CKR_OK);
    EXPECT(f->C_Verify(s, digest, 32, sig, 64), CKR_OK);
    /* The private key's handle works for verification too (the public half is known). */
    EXPECT(f->C_VerifyInit(s, &ecdsa, ec), CKR_OK);
    EXPECT(f->C_Verify(s, digest, 32, sig, 64), CKR_OK);
    EXPECT(f->C_VerifyInit(s, &sha, ec_pub), CKR_OK);
    EXPECT(f->C_VerifyUpdate(s, NULL, 3), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_VerifyFinal(s, sig2, 64), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_VerifyInit(s, &sha, ec_pub), CKR_OK);
    EXPECT(f->C_VerifyUpdate(s, digest, 32), CKR_OK);
    EXPECT(f->C_VerifyFinal(s, sig2, 64), CKR_OK);
    EXPECT(f->C_VerifyRecoverInit(s, &ecdsa, ec_pub), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f->C_VerifyRecover(s, NULL, HUGE_LEN, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f->C_DecryptVerifyUpdate(s, NULL, HUGE_LEN, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
}

/* ---- encryption and decryption ----------------------------------------------------------------- */

static void ciphers(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE rsa_pub,
                    CK_OBJECT_HANDLE ec)
{
    CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0};
    CK_MECHANISM oaep_no_params = {CKM_RSA_PKCS_OAEP, NULL, 0};
    CK_RSA_PKCS_OAEP_PARAMS op;
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof op};
    CK_MECHANISM oaep_short = {CKM_RSA_PKCS_OAEP, &op, sizeof op - 1};
    CK_BYTE msg[] = "hostile plaintext", ct[256], pt[256], big[300];
    CK_ULONG len;

    memset(&op, 0, sizeof op);
    op.hashAlg = CKM_SHA256;
    op.mgf = CKG_MGF1_SHA256;
    memset(big, 1, sizeof big);
    EXPECT(f->C_EncryptInit(s, NULL, rsa_pub), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_EncryptInit(s, &oaep_no_params, rsa_pub), CKR_MECHANISM_PARAM_INVALID);
    EXPECT(f->C_EncryptInit(s, &oaep_short, rsa_pub), CKR_MECHANISM_PARAM_INVALID);
    EXPECT(f->C_EncryptInit(s, &pkcs, BAD_OBJECT), CKR_KEY_HANDLE_INVALID);
    EXPECT(f->C_EncryptInit(s, &pkcs, ec), CKR_KEY_TYPE_INCONSISTENT);
    len = sizeof ct;
    EXPECT(f->C_Encrypt(s, msg, sizeof msg, ct, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_EncryptInit(s, &pkcs, rsa_pub), CKR_OK);
    EXPECT(f->C_EncryptInit(s, &pkcs, rsa_pub), CKR_OPERATION_ACTIVE);
    EXPECT(f->C_Encrypt(s, msg, sizeof msg, ct, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_EncryptInit(s, &pkcs, rsa_pub), CKR_OK);
    len = sizeof ct;
    EXPECT(f->C_Encrypt(s, big, sizeof big, ct, &len), CKR_DATA_LEN_RANGE);
    EXPECT(f->C_EncryptInit(s, &pkcs, rsa_pub), CKR_OK);
    len = 0;
    EXPECT(f->C_Encrypt(s, msg, sizeof msg, NULL, &len), CKR_OK);
    ASSERT(len == 256);
    len = 100;
    EXPECT(f->C_Encrypt(s, msg, sizeof msg, ct, &len), CKR_BUFFER_TOO_SMALL);
    ASSERT(len == 256);
    len = sizeof ct;
    EXPECT(f->C_Encrypt(s, msg, sizeof msg, ct, &len), CKR_OK);
    ASSERT(len == 256);
    EXPECT(f->C_EncryptInit(s, &pkcs, rsa_pub), CKR_OK);
    /* Bad arguments come before the answer (single-part only). */
    EXPECT(f->C_EncryptUpdate(s, NULL, HUGE_LEN, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_EncryptFinal(s, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DigestEncryptUpdate(s, NULL, HUGE_LEN, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);

    /* Decrypt what was just encrypted (the TSB decrypts). */
    EXPECT(f->C_DecryptInit(s, NULL, rsa), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DecryptInit(s, &pkcs, BAD_OBJECT), CKR_KEY_HANDLE_INVALID);
    EXPECT(f->C_DecryptInit(s, &pkcs, rsa_pub), CKR_KEY_TYPE_INCONSISTENT);
    len = sizeof pt;
    EXPECT(f->C_Decrypt(s, ct, 256, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_DecryptInit(s, &pkcs, rsa), CKR_OK);
    EXPECT(f->C_DecryptInit(s, &pkcs, rsa), CKR_OPERATION_ACTIVE);
    EXPECT(f->C_Decrypt(s, ct, 255, pt, &len), CKR_ENCRYPTED_DATA_LEN_RANGE);
    EXPECT(f->C_DecryptInit(s, &pkcs, rsa), CKR_OK);
    EXPECT(f->C_Decrypt(s, NULL, 256, pt, &len), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DecryptInit(s, &pkcs, rsa), CKR_OK);
    len = 0;
    EXPECT(f->C_Decrypt(s, ct, 256, NULL, &len), CKR_OK);
    ASSERT(len == 256);
    len = 3;
    EXPECT(f->C_Decrypt(s, ct, 256, pt, &len), CKR_BUFFER_TOO_SMALL);
    ASSERT(len == sizeof msg);
    len = sizeof pt;
    EXPECT(f->C_Decrypt(s, ct, 256, pt, &len), CKR_OK);
    ASSERT(len == sizeof msg && memcmp(pt, msg, sizeof msg) == 0);
    EXPECT(f->C_DecryptInit(s, &oaep, rsa), CKR_OK);
    EXPECT(f->C_DecryptUpdate(s, NULL, HUGE_LEN, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DecryptFinal(s, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DecryptDigestUpdate(s, NULL, HUGE_LEN, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
}

/* ---- digests ------------------------------------------------------------------------------------ */

static void digests(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec)
{
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
    CK_MECHANISM with_param = {CKM_SHA256, NULL, 4};
    CK_MECHANISM junk = {NO_MECH, NULL, 0};
    CK_BYTE abc[] = {'a', 'b', 'c'}, out[64];
    /* SHA-256("abc") */
    static const CK_BYTE want[4] = {0xba, 0x78, 0x16, 0xbf};
    CK_ULONG len;
    CK_BYTE param[4] = {0};

    with_param.pParameter = param;
    EXPECT(f->C_DigestInit(s, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DigestInit(s, &junk), CKR_MECHANISM_INVALID);
    EXPECT(f->C_DigestInit(s, &with_param), CKR_MECHANISM_PARAM_INVALID);
    EXPECT(f->C_DigestInit(BAD_SESSION, &sha), CKR_SESSION_HANDLE_INVALID);
    len = sizeof out;
    EXPECT(f->C_Digest(s, abc, 3, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_DigestUpdate(s, abc, 3), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_DigestFinal(s, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_DigestKey(s, ec), CKR_OPERATION_NOT_INITIALIZED);
    /* C_DigestKey of no object, or of a key whose value never leaves the TSB: refused, and the
     * digest is over. */
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_DigestKey(s, BAD_OBJECT), CKR_KEY_HANDLE_INVALID);
    EXPECT(f->C_DigestFinal(s, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_DigestKey(s, ec), CKR_KEY_INDIGESTIBLE);
    EXPECT(f->C_DigestFinal(s, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* Length query, too small, right size. */
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_DigestInit(s, &sha), CKR_OPERATION_ACTIVE);
    len = 0;
    EXPECT(f->C_Digest(s, abc, 3, NULL, &len), CKR_OK);
    ASSERT(len == 32);
    len = 31;
    EXPECT(f->C_Digest(s, abc, 3, out, &len), CKR_BUFFER_TOO_SMALL);
    ASSERT(len == 32);
    len = sizeof out;
    EXPECT(f->C_Digest(s, abc, 3, out, &len), CKR_OK);
    ASSERT(len == 32 && memcmp(out, want, 4) == 0);
    /* A length query commits to C_Digest: C_DigestFinal is refused and ends the digest. */
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_Digest(s, abc, 3, NULL, &len), CKR_OK);
    EXPECT(f->C_DigestFinal(s, out, &len), CKR_OPERATION_ACTIVE);
    EXPECT(f->C_Digest(s, abc, 3, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* Argument errors end it. */
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_Digest(s, abc, 3, out, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_Digest(s, NULL, 3, out, &len), CKR_ARGUMENTS_BAD);
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_Digest(s, abc, HUGE_LEN, out, &len), CKR_DATA_LEN_RANGE, CKR_ARGUMENTS_BAD);
    /* Multi-part. */
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_DigestUpdate(s, abc, 1), CKR_OK);
    EXPECT(f->C_DigestUpdate(s, abc + 1, 2), CKR_OK);
    len = 0;
    EXPECT(f->C_DigestFinal(s, NULL, &len), CKR_OK);
    ASSERT(len == 32);
    EXPECT(f->C_Digest(s, abc, 3, out, &len), CKR_OPERATION_ACTIVE);
    EXPECT(f->C_DigestInit(s, &sha), CKR_OK);
    EXPECT(f->C_DigestUpdate(s, abc, 3), CKR_OK);
    len = 1;
    EXPECT(f->C_DigestFinal(s, out, &len), CKR_BUFFER_TOO_SMALL);
    len = sizeof out;
    EXPECT(f->C_DigestFinal(s, out, &len), CKR_OK);
    ASSERT(len == 32 && memcmp(out, want, 4) == 0);
    EXPECT(f->C_DigestFinal(s, out, &len), CKR_OPERATION_NOT_INITIALIZED);
}

/* ---- the 3.0 interface --------------------------------------------------------------------------- */

/* A message-based encryption whose result waits for its retry (CKR_BUFFER_TOO_SMALL): a careless
   caller retries the last C_EncryptMessageNext without the CK_GCM_MESSAGE_PARAMS its tag goes
   into, or with a tag buffer of another length, or calls C_EncryptMessage for another message:
   each is refused, and nothing is written to the output buffer or its length (the module used to
   write the ciphertext, then fail on the missing tag; or hand the other message's ciphertext to
   C_EncryptMessage). */
static void messages_kept(CK_SESSION_HANDLE s)
{
    struct gcm_message_params gp, short_tag;
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0}, gcm = {CKM_AES_GCM, NULL, 0};
    CK_ULONG sixteen = 16, len;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE aes[] = {
        {CKA_VALUE_LEN, &sixteen, sizeof sixteen},
        {CKA_ENCRYPT, &yes, sizeof yes},
    };
    CK_OBJECT_HANDLE key = 0;
    CK_BYTE iv[12], tag[16], out[64], untouched[64], msg[] = "a message of 31 bytes, or so...";
    const CK_ULONG n = sizeof msg - 1;
    int round;

    memset(iv, 7, sizeof iv);
    gp.pIv = iv;
    gp.ulIvLen = sizeof iv;
    gp.ulIvFixedBits = 0;
    gp.ivGenerator = 0; /* CKG_NO_GENERATE */
    gp.pTag = tag;
    gp.ulTagBits = 128;
    short_tag = gp;
    short_tag.ulTagBits = 96;
    memset(untouched, 0xA5, sizeof untouched);
    EXPECT(f->C_GenerateKey(s, &gen, aes, 2, &key), CKR_OK);
    EXPECT(f3->C_MessageEncryptInit(s, &gcm, key), CKR_OK);
    for (round = 0; round < 3; round++) {
        EXPECT(f3->C_EncryptMessageBegin(s, &gp, sizeof gp, NULL, 0), CKR_OK);
        len = 1;
        EXPECT(f3->C_EncryptMessageNext(s, &gp, sizeof gp, msg, n, out, &len, CKF_END_OF_MESSAGE),
               CKR_BUFFER_TOO_SMALL);
        ASSERT(len == n);
        memcpy(out, untouched, sizeof out);
        len = sizeof out;
        if (round == 0) {
            EXPECT(f3->C_EncryptMessageNext(s, NULL, 0, NULL, 0, out, &len, CKF_END_OF_MESSAGE),
                   CKR_ARGUMENTS_BAD);
        } else if (round == 1) {
            EXPECT(f3->C_EncryptMessageNext(s, &short_tag, sizeof short_tag, NULL, 0, out, &len,
                                            CKF_END_OF_MESSAGE),
                   CKR_MECHANISM_PARAM_INVALID);
        } else {
            EXPECT(f3->C_EncryptMessage(s, &gp, sizeof gp, NULL, 0, msg, 5, out, &len),
                   CKR_OPERATION_ACTIVE);
        }
        ASSERT(len == sizeof out && memcmp(out, untouched, sizeof out) == 0);
    }
    EXPECT(f3->C_MessageEncryptFinal(s), CKR_OK);
    EXPECT(f->C_DestroyObject(s, key), CKR_OK);
}

static void interfaces(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec)
{
    get_interface_list_fn list = f3->C_GetInterfaceList;
    get_interface_fn get = f3->C_GetInterface;
    struct h_interface ifs[8], *i = NULL;
    CK_ULONG n = 0;
    CK_VERSION v30 = {3, 0}, v9 = {9, 9};
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    CK_BYTE buf[64];
    CK_ULONG len = sizeof buf;

    EXPECT(list(NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(list(NULL, &n), CKR_OK);
    ASSERT(n == 4);
    n = 1;
    EXPECT(list(ifs, &n), CKR_BUFFER_TOO_SMALL);
    ASSERT(n == 4);
    n = 8;
    EXPECT(list(ifs, &n), CKR_OK);
    EXPECT(get(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
    EXPECT(get((CK_UTF8CHAR *)"No such interface", NULL, &i, 0), CKR_FUNCTION_FAILED);
    ASSERT(i == NULL);
    EXPECT(get((CK_UTF8CHAR *)"PKCS 11", &v9, &i, 0), CKR_FUNCTION_FAILED);
    EXPECT(get((CK_UTF8CHAR *)"PKCS 11", &v30, &i, ~(CK_FLAGS)0), CKR_FUNCTION_FAILED);
    EXPECT(get((CK_UTF8CHAR *)"PKCS 11", &v30, &i, 0), CKR_OK);
    ASSERT(i != NULL && i->pFunctionList == (void *)f3);
    EXPECT(get((CK_UTF8CHAR *)"Vendor tsb-pkcs11", NULL, &i, 0), CKR_OK);
    ASSERT(i != NULL && i->pFunctionList == (const void *)tsb);
    /* The 3.0 message-based encryption (CKM_AES_GCM only): the mechanism, then NULL and absurd
       arguments, refused before anything is read through them. */
    EXPECT(f3->C_MessageEncryptInit(s, &m, ec), CKR_MECHANISM_INVALID);
    EXPECT(f3->C_EncryptMessage(s, NULL, HUGE_LEN, NULL, 0, NULL, HUGE_LEN, NULL, NULL),
           CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_EncryptMessageBegin(s, NULL, 0, NULL, HUGE_LEN), CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_EncryptMessageNext(s, NULL, 0, NULL, 0, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_MessageEncryptFinal(BAD_SESSION), CKR_SESSION_HANDLE_INVALID);
    EXPECT(f3->C_MessageEncryptFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    {
        /* CKG_NO_GENERATE is 0. */
        struct gcm_message_params gp = {NULL, HUGE_LEN, 0, 0, NULL, HUGE_LEN};
        len = sizeof buf;
        EXPECT(f3->C_EncryptMessage(s, &gp, sizeof gp, NULL, 0, buf, 1, buf, &len),
               CKR_MECHANISM_PARAM_INVALID);
        EXPECT(f3->C_EncryptMessage(s, &gp, HUGE_LEN, NULL, 0, buf, 1, buf, &len),
               CKR_MECHANISM_PARAM_INVALID);
        gp.pIv = buf;
        gp.ulIvLen = 12;
        EXPECT(f3->C_DecryptMessage(s, &gp, sizeof gp, NULL, 0, buf, 1, buf, &len),
               CKR_MECHANISM_PARAM_INVALID);
        gp.pTag = buf;
        gp.ulTagBits = 128;
        EXPECT(f3->C_DecryptMessageNext(s, &gp, sizeof gp, buf, 1, buf, &len, ~(CK_FLAGS)0),
               CKR_ARGUMENTS_BAD);
        EXPECT(f3->C_DecryptMessage(s, &gp, sizeof gp, NULL, HUGE_LEN, buf, 1, buf, &len),
               CKR_ARGUMENTS_BAD);
        EXPECT(f3->C_DecryptMessage(s, &gp, sizeof gp, NULL, 0, buf, 1, buf, &len),
               CKR_OPERATION_NOT_INITIALIZED);
    }
    messages_kept(s);
    EXPECT(f3->C_MessageDecryptInit(s, NULL, 0), CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_DecryptMessage(s, NULL, 0, NULL, 0, NULL, 0, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_DecryptMessageBegin(s, NULL, 0, NULL, 0), CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_DecryptMessageNext(s, NULL, 0, NULL, 0, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
    EXPECT(f3->C_MessageDecryptFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    /* Message-based signing and verification: not offered, whatever the arguments. */
    EXPECT(f3->C_MessageSignInit(s, &m, ec), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_SignMessage(s, NULL, 0, buf, HUGE_LEN, buf, &len), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_SignMessageBegin(s, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_SignMessageNext(s, NULL, 0, NULL, 0, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_MessageSignFinal(s), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_MessageVerifyInit(s, &m, ec), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_VerifyMessage(s, NULL, 0, NULL, 0, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_VerifyMessageBegin(s, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_VerifyMessageNext(s, NULL, 0, NULL, 0, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    EXPECT(f3->C_MessageVerifyFinal(s), CKR_FUNCTION_NOT_SUPPORTED);
    /* C_SessionCancel ends an idle operation. */
    EXPECT(f->C_SignInit(s, &m, ec), CKR_OK);
    EXPECT(f3->C_SessionCancel(s, CKF_SIGN), CKR_OK);
    len = sizeof buf;
    EXPECT(f->C_Sign(s, buf, 32, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    EXPECT(f->C_SignInit(s, &m, ec), CKR_OK);
    EXPECT(f3->C_SessionCancel(s, CKF_SIGN), CKR_OK);
}

/* ---- the vendor functions -------------------------------------------------------------------- */

static void vendor(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ec_pub)
{
    struct TSB_REQUEST_INFO ri;
    struct TSB_CSR_PARAMS cp;
    struct TSB_CERT_PARAMS xp;
    CK_BYTE buf[TSB_OUTPUT_ESTIMATE];
    CK_ULONG len = sizeof buf;
    CK_OBJECT_HANDLE h = 0;
    char id[64];
    CK_ULONG idlen = sizeof id;

    memset(&cp, 0, sizeof cp);
    memset(&xp, 0, sizeof xp);
    EXPECT(tsb->TSB_GetRequestStatus(BAD_SESSION, "x", &ri, NULL, NULL),
           CKR_SESSION_HANDLE_INVALID);
    EXPECT(tsb->TSB_GetRequestStatus(s, NULL, &ri, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_GetRequestStatus(s, "x", NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_GetRequestStatus(s, "00000000-0000-0000-0000-000000000000", &ri, NULL, &len),
           CKR_FUNCTION_CANCELED, CKR_DEVICE_ERROR);
    EXPECT(tsb->TSB_CancelRequest(BAD_SESSION, "x"), CKR_SESSION_HANDLE_INVALID);
    EXPECT(tsb->TSB_CancelRequest(s, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_CancelRequest(s, "00000000-0000-0000-0000-000000000000"), CKR_OK);
    EXPECT(tsb->TSB_GetLastRequestId(BAD_SESSION, id, &idlen), CKR_SESSION_HANDLE_INVALID);
    EXPECT(tsb->TSB_GetLastRequestId(s, id, NULL), CKR_FUNCTION_FAILED, CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_GetLastRequestId(s, id, &idlen), CKR_FUNCTION_FAILED);
    /* CSR: NULL parameters, no common name, bad output format, bad key; length query. */
    EXPECT(tsb->TSB_CreateCSR(BAD_SESSION, ec, &cp, NULL, &len), CKR_SESSION_HANDLE_INVALID);
    EXPECT(tsb->TSB_CreateCSR(s, ec, NULL, NULL, &len), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_CreateCSR(s, ec, &cp, NULL, &len), CKR_ARGUMENTS_BAD);
    cp.commonName = "hostile";
    cp.outputFormat = 77;
    EXPECT(tsb->TSB_CreateCSR(s, ec, &cp, NULL, &len), CKR_ARGUMENTS_BAD);
    cp.outputFormat = TSB_OUTPUT_PEM;
    EXPECT(tsb->TSB_CreateCSR(s, ec, &cp, NULL, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_CreateCSR(s, BAD_OBJECT, &cp, NULL, &len), CKR_KEY_HANDLE_INVALID,
           CKR_OBJECT_HANDLE_INVALID);
    EXPECT(tsb->TSB_CreateCSR(s, ec_pub, &cp, NULL, &len), CKR_KEY_TYPE_INCONSISTENT,
           CKR_KEY_HANDLE_INVALID);
    len = 0;
    EXPECT(tsb->TSB_CreateCSR(s, ec, &cp, NULL, &len), CKR_OK);
    ASSERT(len == TSB_OUTPUT_ESTIMATE);
    len = 10;
    EXPECT(tsb->TSB_CreateCSR(s, ec, &cp, buf, &len), CKR_BUFFER_TOO_SMALL);
    ASSERT(len > 10 && len < TSB_OUTPUT_ESTIMATE);
    len = sizeof buf;
    EXPECT(tsb->TSB_CreateCSR(s, ec, &cp, buf, &len), CKR_OK);
    ASSERT(len > 100 && memcmp(buf, "-----BEGIN", 10) == 0);
    /* Self-sign and issue: NULL parameters and outputs. */
    EXPECT(tsb->TSB_SelfSignCertificate(s, ec, NULL, &h), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_SelfSignCertificate(s, ec, &xp, NULL), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_SelfSignCertificate(s, BAD_OBJECT, &xp, &h), CKR_KEY_HANDLE_INVALID,
           CKR_OBJECT_HANDLE_INVALID);
    EXPECT(tsb->TSB_IssueCertificate(s, ec, NULL, 0, &xp, NULL, &len), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_IssueCertificate(s, ec, NULL, 5, &xp, NULL, &len), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_IssueCertificate(s, ec, buf, HUGE_LEN, &xp, NULL, &len),
           CKR_DATA_LEN_RANGE, CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_IssueCertificate(s, ec, buf, 10, NULL, NULL, &len), CKR_ARGUMENTS_BAD);
    EXPECT(tsb->TSB_IssueCertificate(s, ec, buf, 10, &xp, NULL, NULL), CKR_ARGUMENTS_BAD);
}

/* ---- after C_Finalize, and handles across a re-initialization ------------------------------------ */

static void after_finalize(CK_SESSION_HANDLE stale_session, CK_OBJECT_HANDLE stale_object)
{
    CK_SESSION_INFO si;
    CK_SESSION_HANDLE s = 0;
    CK_ATTRIBUTE a = {CKA_LABEL, NULL, 0};

    EXPECT(f->C_Finalize(NULL), CKR_OK);
    EXPECT(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    not_initialized();
    /* A new initialization never hands out an old handle, and the old ones are invalid. */
    EXPECT(f->C_Initialize(NULL), CKR_OK);
    EXPECT(f->C_GetSessionInfo(stale_session, &si), CKR_SESSION_HANDLE_INVALID);
    EXPECT(open_rw(&s), CKR_OK);
    ASSERT(s != stale_session);
    EXPECT(f->C_GetAttributeValue(s, stale_object, &a, 1), CKR_OBJECT_HANDLE_INVALID);
    EXPECT(f->C_Finalize(NULL), CKR_OK);
}

int main(int argc, char **argv)
{
    const char *path = getenv("TSB_PKCS11_MODULE");
    const char *ec_label = "hostile-ec", *rsa_label = "hostile-rsa";
    CK_RV (*get_function_list)(CK_FUNCTION_LIST **);
    get_interface_fn get_interface;
    struct h_interface *iface = NULL;
    CK_VERSION v30 = {3, 0};
    CK_SESSION_HANDLE s = 0, ro = 0;
    CK_OBJECT_HANDLE ec = 0, ec_pub = 0, rsa = 0, rsa_pub = 0;
    void *dl;
    int i;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-m") == 0) {
            path = argv[i + 1];
        } else if (strcmp(argv[i], "-l") == 0) {
            ec_label = argv[i + 1];
        } else if (strcmp(argv[i], "-r") == 0) {
            rsa_label = argv[i + 1];
        } else {
            fprintf(stderr, "usage: %s [-m module.so] [-l ec-label] [-r rsa-label]\n", argv[0]);
            return 2;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "no module: -m or TSB_PKCS11_MODULE\n");
        return 2;
    }
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "dlopen(%s): %s\n", path, dlerror());
        return 2;
    }
    *(void **)(&get_function_list) = dlsym(dl, "C_GetFunctionList");
    *(void **)(&get_interface) = dlsym(dl, "C_GetInterface");
    if (get_function_list == NULL || get_interface == NULL) {
        fprintf(stderr, "%s lacks C_GetFunctionList or C_GetInterface\n", path);
        return 2;
    }
    /* The lists are reachable before C_Initialize. */
    EXPECT(get_function_list(NULL), CKR_ARGUMENTS_BAD);
    EXPECT(get_function_list(&f), CKR_OK);
    EXPECT(get_interface((CK_UTF8CHAR *)"PKCS 11", &v30, &iface, 0), CKR_OK);
    if (f == NULL || iface == NULL) {
        fprintf(stderr, "no function lists\n");
        return 2;
    }
    f3 = iface->pFunctionList;
    EXPECT(get_interface((CK_UTF8CHAR *)"Vendor tsb-pkcs11", NULL, &iface, 0), CKR_OK);
    tsb = iface->pFunctionList;
    ASSERT(f3->v2.version.major == 3 && f3->v2.version.minor == 0);
    ASSERT(tsb->version.major == 1);

    not_initialized();
    initialize_arguments();
    slots_and_tokens();
    sessions();
    EXPECT(open_rw(&s), CKR_OK);
    EXPECT(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    EXPECT(find_key(s, CKO_PRIVATE_KEY, ec_label, &ec), CKR_OK);
    EXPECT(find_key(s, CKO_PUBLIC_KEY, ec_label, &ec_pub), CKR_OK);
    EXPECT(find_key(s, CKO_PRIVATE_KEY, rsa_label, &rsa), CKR_OK);
    EXPECT(find_key(s, CKO_PUBLIC_KEY, rsa_label, &rsa_pub), CKR_OK);
    if (failures == 0) {
        objects(s, ec, ec_pub);
        generation(s, ro);
        signing(s, ec, ec_pub, rsa);
        ciphers(s, rsa, rsa_pub, ec);
        digests(s, ec);
        interfaces(s, ec);
        vendor(s, ec, ec_pub);
        after_finalize(s, ec);
    } else {
        fprintf(stderr, "hostile: the test keys %s and %s were not found; stopping\n", ec_label,
                rsa_label);
        f->C_Finalize(NULL);
    }
    dlclose(dl);
    printf("hostile: %lu calls checked, %lu unexpected\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
