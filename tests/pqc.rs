//! ML-DSA through the C ABI of the built module (issue 16): the PKCS#11 3.2 values a C caller
//! passes (CKM_ML_DSA_KEY_PAIR_GEN, CKA_PARAMETER_SET, a CK_SIGN_ADDITIONAL_CONTEXT parameter) reach
//! the module as the 3.2 header defines them, and the signature verifies with RustCrypto's
//! `ml-dsa` (not the crates the emulator and the module use). The semantics are tested in-process
//! (`src/token/tests/pqc.rs`).

mod common;
#[path = "common/pqc_check.rs"]
mod pqc_check;

use common::raw::{fns, open_session};
use common::*;
use cryptoki_sys::*;

// PKCS#11 3.2 `pkcs11t.h` (see src/pkcs11_v32.rs for the sources), as a C caller has them.
const CKK_ML_DSA: CK_ULONG = 0x4a;
const CKA_PARAMETER_SET: CK_ULONG = 0x61d;
const CKM_ML_DSA_KEY_PAIR_GEN: CK_ULONG = 0x1c;
const CKM_ML_DSA: CK_ULONG = 0x1d;
const CKM_SLH_DSA: CK_ULONG = 0x2e;
const CKP_ML_DSA_44: CK_ULONG = 1;
const CKH_HEDGE_PREFERRED: CK_ULONG = 0;

#[repr(C)]
#[allow(non_snake_case)]
struct CkSignAdditionalContext {
    hedgeVariant: CK_ULONG,
    pContext: *mut u8,
    ulContextLen: CK_ULONG,
}

fn attr<T>(ty: CK_ULONG, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const T as *mut _,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// An attribute the module writes into.
fn out_attr<T>(ty: CK_ULONG, v: &mut T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *mut T as *mut _,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

fn bytes_attr(ty: CK_ULONG, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v.as_ptr() as *mut _,
        ulValueLen: v.len() as CK_ULONG,
    }
}

/// C_SignInit or C_VerifyInit with CKM_ML_DSA and a context parameter of `ctx`.
fn init(verify: bool, s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, ctx: &mut [u8]) -> CK_RV {
    let mut p = CkSignAdditionalContext {
        hedgeVariant: CKH_HEDGE_PREFERRED,
        pContext: ctx.as_mut_ptr(),
        ulContextLen: ctx.len() as CK_ULONG,
    };
    let mut m = CK_MECHANISM {
        mechanism: CKM_ML_DSA,
        pParameter: &mut p as *mut _ as *mut _,
        ulParameterLen: std::mem::size_of::<CkSignAdditionalContext>() as CK_ULONG,
    };
    let f = fns();
    unsafe {
        if verify {
            f.C_VerifyInit.unwrap()(s, &mut m, key)
        } else {
            f.C_SignInit.unwrap()(s, &mut m, key)
        }
    }
}

isolated!(
    fn ml_dsa_through_the_c_abi() {
        let env = Env::new(Opts::default());
        let f = fns();
        let s = open_session(0);
        // C_GetMechanismList names the 3.2 mechanisms (the emulator's version is unknown to
        // the module, which lists them).
        let mut n: CK_ULONG = 0;
        unsafe {
            assert_eq!(
                f.C_GetMechanismList.unwrap()(0, std::ptr::null_mut(), &mut n),
                CKR_OK
            );
        }
        let mut list = vec![0 as CK_ULONG; n as usize];
        unsafe {
            assert_eq!(
                f.C_GetMechanismList.unwrap()(0, list.as_mut_ptr(), &mut n),
                CKR_OK
            );
        }
        for m in [CKM_ML_DSA_KEY_PAIR_GEN, CKM_ML_DSA, CKM_SLH_DSA] {
            assert!(list.contains(&m), "0x{m:x} in {list:x?}");
        }
        // C_GenerateKeyPair with the parameter set in the public template.
        let (yes, set, label) = (CK_TRUE, CKP_ML_DSA_44, b"abi-ml-dsa");
        let mut public = [
            attr(CKA_TOKEN, &yes),
            attr(CKA_PARAMETER_SET, &set),
            bytes_attr(CKA_LABEL, label),
        ];
        let mut private = [
            attr(CKA_TOKEN, &yes),
            attr(CKA_SIGN, &yes),
            bytes_attr(CKA_LABEL, label),
        ];
        let mut mech = CK_MECHANISM {
            mechanism: CKM_ML_DSA_KEY_PAIR_GEN,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        };
        let (mut pubh, mut privh) = (0, 0);
        let rv = unsafe {
            f.C_GenerateKeyPair.unwrap()(
                s,
                &mut mech,
                public.as_mut_ptr(),
                public.len() as CK_ULONG,
                private.as_mut_ptr(),
                private.len() as CK_ULONG,
                &mut pubh,
                &mut privh,
            )
        };
        assert_eq!(rv, CKR_OK);
        // CKA_KEY_TYPE, CKA_PARAMETER_SET and CKA_VALUE (1312 bytes) of the public key.
        let (mut kt, mut ps) = (0 as CK_ULONG, 0 as CK_ULONG);
        let mut value = vec![0u8; 2000];
        let mut t = [
            out_attr(CKA_KEY_TYPE, &mut kt),
            out_attr(CKA_PARAMETER_SET, &mut ps),
            CK_ATTRIBUTE {
                type_: CKA_VALUE,
                pValue: value.as_mut_ptr() as *mut _,
                ulValueLen: value.len() as CK_ULONG,
            },
        ];
        unsafe {
            assert_eq!(
                f.C_GetAttributeValue.unwrap()(s, pubh, t.as_mut_ptr(), 3),
                CKR_OK
            );
        }
        assert_eq!((kt, ps), (CKK_ML_DSA, CKP_ML_DSA_44));
        value.truncate(t[2].ulValueLen as usize);
        assert_eq!(value.len(), 1312);
        // C_Sign with a context: one POST /v1/sign, and RustCrypto verifies it with the context.
        let mut ctx = b"abi-context".to_vec();
        assert_eq!(init(false, s, privh, &mut ctx), CKR_OK);
        let (rv, sig, _) = raw::sign_again(s, b"payload", Some(2420));
        assert_eq!(rv, CKR_OK);
        assert_eq!(env.count("POST", "/v1/sign"), 1);
        assert_eq!(env.count("POST", "/v1/synchronousSign"), 0);
        let set = tsb_models::PqcParameterSet::MlDsa44;
        assert!(pqc_check::rustcrypto_verifies(
            set, &value, b"payload", &ctx, &sig
        ));
        assert!(!pqc_check::rustcrypto_verifies(
            set, &value, b"payload", b"", &sig
        ));
        // C_Verify in the module with the same parameter.
        assert_eq!(init(true, s, pubh, &mut ctx), CKR_OK);
        let rv = unsafe {
            f.C_Verify.unwrap()(
                s,
                b"payload".as_ptr() as *mut _,
                7,
                sig.as_ptr() as *mut _,
                sig.len() as CK_ULONG,
            )
        };
        assert_eq!(rv, CKR_OK);
        // A context longer than FIPS 204 allows, and a parameter of the wrong size.
        let mut long = vec![0u8; 256];
        assert_eq!(
            init(false, s, privh, &mut long),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut wrong = [0u8; 3];
        let mut m = CK_MECHANISM {
            mechanism: CKM_ML_DSA,
            pParameter: wrong.as_mut_ptr() as *mut _,
            ulParameterLen: 3,
        };
        assert_eq!(
            unsafe { f.C_SignInit.unwrap()(s, &mut m, privh) },
            CKR_MECHANISM_PARAM_INVALID
        );
    }
);
