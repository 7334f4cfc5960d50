//! SP 800-108 KDFs through the C ABI (issue 12): C_DeriveKey with CKM_SP800_108_COUNTER_KDF,
//! _FEEDBACK_KDF and _DOUBLE_PIPELINE_KDF and AES-CMAC or HMAC-SHA-256 on the TSB. The derived bytes are checked
//! against NIST CAVP vectors (the base key imported with the vector's KI, the derived key
//! extractable and read back), the cryptoki suite's flows (templates and attributes), additional
//! keys, and the refusals, which send nothing.

mod common;

use common::{hex, rv, Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::kbkdf::{
    DerivedKey, Endianness, KbkdfCounterFormat, KbkdfDkmLengthFormat, KbkdfDkmLengthMethod,
    KbkdfFeedbackParams, KbkdfParams, PrfDataParam, PrfDataParamType,
};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use std::num::NonZeroUsize;

fn be(bits: usize) -> KbkdfCounterFormat {
    KbkdfCounterFormat::new(Endianness::Big, NonZeroUsize::new(bits).unwrap())
}

/// An AES base key with the value `ki`, allowed to derive.
fn base(s: &Session, ki: &str) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(hex(ki)),
        Attribute::Derive(true),
    ])
    .unwrap()
}

/// A derived AES key of `len` bytes that can be read back.
fn readable(len: u64) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(len.into()),
        Attribute::Extractable(true),
        Attribute::Sensitive(false),
    ]
}

fn value(s: &Session, h: ObjectHandle) -> Vec<u8> {
    match &s.get_attributes(h, &[AttributeType::Value]).unwrap()[..] {
        [Attribute::Value(v)] => v.clone(),
        other => panic!("no CKA_VALUE: {other:?}"),
    }
}

isolated!(
    fn derived_keys_match_nist_cavp_vectors() {
        let env = Env::new(Opts::default());
        let s = env.session();
        // KBKDFCTR [PRF=CMAC_AES128] [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS] COUNT=0.
        let ki = base(&s, "c10b152e8c97b77e18704e0f0bd38305");
        let fixed = hex(
            "98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03
             e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4",
        );
        let f32 = be(32);
        let data = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&f32))),
            PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
        ];
        let p = KbkdfParams::new(MechanismType::AES_CMAC, &data, None);
        let k = s
            .derive_key(&Mechanism::KbkdfCounter(p), ki, &readable(16))
            .unwrap();
        assert_eq!(value(&s, k), hex("26faf61908ad9ee881b8305c221db53f"));
        // KBKDFFB [PRF=CMAC_AES128], an IV and no counter: the first 32 bytes of KO.
        let ki = base(&s, "5c996c922f65de97d4408373229814c6");
        let fixed = hex(
            "62afe5fed91e797221a854336b0aadd8a05ad0e3c8345729897b2efcec5a1178
             a2fa4c063007b67a7015e0d6b7271ea8d86b44",
        );
        let iv = hex("28dc945cb8337ab5336c3e9b5bad21c7");
        let data = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(None)),
            PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
        ];
        let p = KbkdfFeedbackParams::new(MechanismType::AES_CMAC, &data, Some(&iv), None);
        let k = s
            .derive_key(&Mechanism::KbkdfFeedback(p), ki, &readable(32))
            .unwrap();
        assert_eq!(
            value(&s, k),
            hex("88a9aae193abdd3fe8143bab66014ae41dc2d12ea9d08f5871588fc5d827924e")
        );
        // KBKDFDP [PRF=CMAC_AES128] [CTRLOCATION=AFTER_ITER] [RLEN=8_BITS]: 32 bytes of KO.
        let ki = base(&s, "08a5a251b8e4826fbf73292f4cd6c790");
        let fixed = hex(
            "aa5acbce73a98d4c4f361d5c22a2cc6f6bdc30027aa31af1ba8b15a5bd5b6a34
             d133519ad1a82483c2d2a6dd9a97273a780421",
        );
        let f8 = be(8);
        let data = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(None)),
            PrfDataParam::new(PrfDataParamType::Counter(&f8)),
            PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
        ];
        let p = KbkdfParams::new(MechanismType::AES_CMAC, &data, None);
        let k = s
            .derive_key(&Mechanism::KbkdfDoublePipeline(p), ki, &readable(32))
            .unwrap();
        assert_eq!(
            value(&s, k),
            hex("ff1c72ec38b8968a1ce0942a571a1f522ddd2a1c6ffc2b60c90bb54a5c0e9de4")
        );
        // A derived key is no local key.
        let a = s
            .get_attributes(
                k,
                &[
                    AttributeType::Local,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                ],
            )
            .unwrap();
        assert_eq!(
            a,
            vec![
                Attribute::Local(false),
                Attribute::AlwaysSensitive(false),
                Attribute::NeverExtractable(false)
            ]
        );
    }
);

/// The base key and templates of the cryptoki suite's kbkdf_* tests.
fn suite_base(s: &Session) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::ValueLen(32.into()),
            Attribute::Derive(true),
        ],
    )
    .unwrap()
}

fn suite_template() -> Vec<Attribute> {
    vec![
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]
}

const CHECKED: [AttributeType; 8] = [
    AttributeType::Class,
    AttributeType::KeyType,
    AttributeType::ValueLen,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::Verify,
    AttributeType::Derive,
];

isolated!(
    fn the_cryptoki_suites_flows_and_additional_keys() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let base_key = suite_base(&s);
        let ctr = be(16);
        let dkm = KbkdfDkmLengthFormat::new(
            KbkdfDkmLengthMethod::SumOfKeys,
            Endianness::Big,
            NonZeroUsize::new(16).unwrap(),
        );
        let wanted = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
        ];
        let counter = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&ctr))),
            PrfDataParam::new(PrfDataParamType::ByteArray(b"test_label")),
            PrfDataParam::new(PrfDataParamType::ByteArray(&[0])),
            PrfDataParam::new(PrfDataParamType::ByteArray(b"\xfe\xed\xbe\xef")),
            PrfDataParam::new(PrfDataParamType::DkmLength(&dkm)),
        ];
        let feedback = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(None)),
            PrfDataParam::new(PrfDataParamType::Counter(&ctr)),
            PrfDataParam::new(PrfDataParamType::DkmLength(&dkm)),
        ];
        let pipeline = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(None)),
            PrfDataParam::new(PrfDataParamType::DkmLength(&dkm)),
        ];
        let mechs = [
            Mechanism::KbkdfCounter(KbkdfParams::new(MechanismType::AES_CMAC, &counter, None)),
            Mechanism::KbkdfFeedback(KbkdfFeedbackParams::new(
                MechanismType::AES_CMAC,
                &feedback,
                None,
                None,
            )),
            Mechanism::KbkdfFeedback(KbkdfFeedbackParams::new(
                MechanismType::AES_CMAC,
                &feedback[..2],
                Some(b"some_initialization_vector"),
                None,
            )),
            Mechanism::KbkdfDoublePipeline(KbkdfParams::new(
                MechanismType::AES_CMAC,
                &pipeline,
                None,
            )),
        ];
        for m in &mechs {
            let k = s.derive_key(m, base_key, &suite_template()).unwrap();
            assert_eq!(s.get_attributes(k, &CHECKED).unwrap(), wanted, "{m:?}");
            s.destroy_object(k).unwrap();
        }
        // Additional keys: an AES-128 MAC key (the uses its template leaves open are an AES
        // key's, and a MAC key encrypts on the TSB in any case: it reads CKA_ENCRYPT and
        // CKA_DECRYPT true, where the suite expects false) and an HMAC key.
        let templates = [
            vec![
                Attribute::Token(true),
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(16.into()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ],
            vec![
                Attribute::Token(false),
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Derive(true),
            ],
        ];
        let mut more: Vec<DerivedKey> = templates.iter().map(|t| DerivedKey::new(t)).collect();
        let p = KbkdfParams::new(MechanismType::AES_CMAC, &counter, Some(&mut more));
        let main = s
            .derive_key(&Mechanism::KbkdfCounter(p), base_key, &suite_template())
            .unwrap();
        assert_eq!(s.get_attributes(main, &CHECKED).unwrap(), wanted);
        let handles: Vec<ObjectHandle> = more.iter().filter_map(|k| k.handle()).collect();
        assert_eq!(handles.len(), 2, "a handle for every additional key");
        let a = s.get_attributes(handles[0], &CHECKED).unwrap();
        assert_eq!(
            a,
            vec![
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(16.into()),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Sign(true),
                Attribute::Verify(true),
                Attribute::Derive(false),
            ]
        );
        let a = s
            .get_attributes(
                handles[1],
                &[AttributeType::KeyType, AttributeType::ValueLen],
            )
            .unwrap();
        assert_eq!(
            a,
            vec![
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(32.into())
            ]
        );
        // The MAC key makes MACs.
        s.sign(&Mechanism::AesCMac, handles[0], b"data").unwrap();
    }
);

isolated!(
    fn refused_parameters_and_templates_send_nothing() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let base_key = suite_base(&s);
        let ctr = be(16);
        let dkm = KbkdfDkmLengthFormat::new(
            KbkdfDkmLengthMethod::SumOfKeys,
            Endianness::Big,
            NonZeroUsize::new(16).unwrap(),
        );
        let label = PrfDataParam::new(PrfDataParamType::ByteArray(b"test_label"));
        let dkm_p = PrfDataParam::new(PrfDataParamType::DkmLength(&dkm));
        let iter = PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&ctr)));
        let chain = PrfDataParam::new(PrfDataParamType::IterationVariable(None));
        let counter = PrfDataParam::new(PrfDataParamType::Counter(&ctr));
        let encrypts = env.count("POST", "/v1/encrypt");
        let imports = env.count("POST", "/v1/key/import/plain");
        let bad = |m: Mechanism| {
            let e = s.derive_key(&m, base_key, &suite_template()).unwrap_err();
            assert_eq!(rv(e), RvError::MechanismParamInvalid, "{m:?}");
        };
        let cmac = MechanismType::AES_CMAC;
        // The suite's kbkdf_invalid_data_params_counter_mode and _feedback_mode.
        bad(Mechanism::KbkdfCounter(KbkdfParams::new(
            cmac,
            &[label, dkm_p],
            None,
        )));
        bad(Mechanism::KbkdfCounter(KbkdfParams::new(
            cmac,
            &[chain, label, dkm_p],
            None,
        )));
        bad(Mechanism::KbkdfCounter(KbkdfParams::new(
            cmac,
            &[iter, counter, label],
            None,
        )));
        bad(Mechanism::KbkdfCounter(KbkdfParams::new(
            cmac,
            &[iter, label, dkm_p, dkm_p],
            None,
        )));
        bad(Mechanism::KbkdfFeedback(KbkdfFeedbackParams::new(
            cmac,
            &[label, dkm_p],
            None,
            None,
        )));
        bad(Mechanism::KbkdfFeedback(KbkdfFeedbackParams::new(
            cmac,
            &[iter, label],
            None,
            None,
        )));
        bad(Mechanism::KbkdfDoublePipeline(KbkdfParams::new(
            cmac,
            &[chain, dkm_p, dkm_p],
            None,
        )));
        // Another PRF.
        bad(Mechanism::KbkdfCounter(KbkdfParams::new(
            MechanismType::SHA512_HMAC,
            &[iter, label],
            None,
        )));
        // An additional key the TSB cannot hold (a 1-byte generic secret): nothing is made.
        let one_byte = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(1.into()),
        ];
        let mut more = vec![DerivedKey::new(&one_byte)];
        let two = [iter, label];
        let p = KbkdfParams::new(cmac, &two, Some(&mut more));
        let e = s
            .derive_key(&Mechanism::KbkdfCounter(p), base_key, &suite_template())
            .unwrap_err();
        assert_eq!(rv(e), RvError::AttributeValueInvalid);
        // A base key that may not derive.
        let no_derive = s
            .generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())])
            .unwrap();
        let p = KbkdfParams::new(cmac, &two, None);
        let e = s
            .derive_key(&Mechanism::KbkdfCounter(p), no_derive, &suite_template())
            .unwrap_err();
        assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
        assert_eq!(env.count("POST", "/v1/encrypt"), encrypts, "no PRF request");
        assert_eq!(
            env.count("POST", "/v1/key/import/plain"),
            imports,
            "no key made"
        );
    }
);

/// An HMAC-SHA-256 base key (the TSB's `HMACSHA256`) with the value `ki`, allowed to derive and
/// to sign (the TSB computes an HMAC for a key with `sign`).
fn hmac_base(s: &Session, ki: &str) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Value(hex(ki)),
        Attribute::Derive(true),
        Attribute::Sign(true),
    ])
    .unwrap()
}

const HMAC: &str = "/v1/synchronousHmac";

isolated!(
    fn hmac_sha256_prf_matches_nist_cavp_vectors() {
        let env = Env::new(Opts::default());
        let s = env.session();
        // KBKDFCTR [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED] [RLEN=8_BITS] COUNT=0, L = 128:
        // one PRF call, one request.
        let ki = hmac_base(
            &s,
            "3edc6b5b8f7aadbd713732b482b8f979286e1ea3b8f8f99c30c884cfe3349b83",
        );
        let fixed = hex(
            "98e9988bb4cc8b34d7922e1c68ad692ba2a1d9ae15149571675f17a77ad49e80
             c8d2a85e831a26445b1f0ff44d7084a17206b4896c8112daad18605a",
        );
        let f8 = be(8);
        let data = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&f8))),
            PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
        ];
        let before = env.count("POST", HMAC);
        let p = KbkdfParams::new(MechanismType::SHA256_HMAC, &data, None);
        let k = s
            .derive_key(&Mechanism::KbkdfCounter(p), ki, &readable(16))
            .unwrap();
        assert_eq!(value(&s, k), hex("6c037652990674a07844732d0ad985f9"));
        assert_eq!(env.count("POST", HMAC) - before, 1, "one HMAC per PRF call");
        // [RLEN=32_BITS] COUNT=30, L = 320 (KO is two PRF outputs, and L is not in the PRF
        // input): a 32-byte generic secret takes the first output and an additional AES-128 key
        // the second (a key starts at a fresh PRF output), whose first 8 bytes end KO. Two
        // iterations, two requests: the TSB's HMAC takes one message per request.
        let ki = hmac_base(
            &s,
            "c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac",
        );
        let fixed = hex(
            "1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacac
             e6a5946542da3dfe24ff626b4897898cafb7db83bdff3c14fa46fd4b",
        );
        let f32 = be(32);
        let data = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&f32))),
            PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
        ];
        let generic = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Extractable(true),
            Attribute::Sensitive(false),
        ];
        let second = readable(16);
        let mut more = vec![DerivedKey::new(&second)];
        let before = env.count("POST", HMAC);
        let p = KbkdfParams::new(MechanismType::SHA256_HMAC, &data, Some(&mut more));
        let k = s
            .derive_key(&Mechanism::KbkdfCounter(p), ki, &generic)
            .unwrap();
        let ko = hex(
            "1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f1
             2d0dd1152cf44430",
        );
        assert_eq!(value(&s, k), ko[..32]);
        let extra = more[0].handle().expect("the additional key's handle");
        assert_eq!(value(&s, extra)[..8], ko[32..]);
        assert_eq!(
            env.count("POST", HMAC) - before,
            2,
            "one request per 32 bytes"
        );
        // The derived HMAC key is an HMAC key of the TSB.
        let a = s
            .get_attributes(k, &[AttributeType::KeyType, AttributeType::ValueLen])
            .unwrap();
        assert_eq!(
            a,
            vec![
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(32.into())
            ]
        );
    }
);

isolated!(
    fn a_prf_that_does_not_fit_the_base_key_sends_nothing() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let hmac_key = hmac_base(&s, &"ab".repeat(32));
        let aes_key = suite_base(&s);
        // An HMAC key without CKA_DERIVE (one without CKA_SIGN cannot be made: the TSB wants
        // one of decrypt, sign, unwrap true, S3 `AttributesDto.java`, and an HMAC key here has
        // only `sign` of them).
        let no_derive = s
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Value(vec![7; 32]),
                Attribute::Derive(false),
            ])
            .unwrap();
        let ctr = be(16);
        let data = [
            PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&ctr))),
            PrfDataParam::new(PrfDataParamType::ByteArray(b"label")),
        ];
        let hmacs = env.count("POST", HMAC);
        let encrypts = env.count("POST", "/v1/encrypt");
        let imports = env.count("POST", "/v1/key/import/plain");
        let derive = |prf, base| {
            let p = KbkdfParams::new(prf, &data, None);
            rv(
                s.derive_key(&Mechanism::KbkdfCounter(p), base, &readable(16))
                    .unwrap_err(),
            )
        };
        // CKR_KEY_TYPE_INCONSISTENT as the standard defines it (PKCS#11 3.0, return values):
        // "the specified key is not the correct type of key to use with the specified mechanism".
        assert_eq!(
            derive(MechanismType::SHA256_HMAC, aes_key),
            RvError::KeyTypeInconsistent
        );
        assert_eq!(
            derive(MechanismType::AES_CMAC, hmac_key),
            RvError::KeyTypeInconsistent
        );
        // Another HMAC stays an invalid parameter, whatever the key.
        assert_eq!(
            derive(MechanismType::SHA384_HMAC, hmac_key),
            RvError::MechanismParamInvalid
        );
        // An HMAC key without CKA_DERIVE.
        assert_eq!(
            derive(MechanismType::SHA256_HMAC, no_derive),
            RvError::KeyFunctionNotPermitted
        );
        assert_eq!(env.count("POST", HMAC), hmacs, "no HMAC request");
        assert_eq!(
            env.count("POST", "/v1/encrypt"),
            encrypts,
            "no CMAC request"
        );
        assert_eq!(
            env.count("POST", "/v1/key/import/plain"),
            imports,
            "no key made"
        );
    }
);

isolated!(
    /// A data parameter of type CK_SP800_108_ITERATION_VARIABLE with a NULL `pValue` and the
    /// length of a CK_SP800_108_COUNTER_FORMAT: NULL with a non-zero length is refused like
    /// any other type's (the iteration variable may be NULL only with a length of 0), never
    /// read (it crashed the process), and nothing is sent.
    fn a_null_iteration_variable_with_a_length_is_refused_unread() {
        use common::raw;
        use cryptoki_sys::*;
        let env = Env::new(Opts::default());
        let s = env.session();
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Label(b"null-param".to_vec()),
                Attribute::ValueLen(32.into()),
                Attribute::Derive(true),
            ],
        )
        .unwrap();
        let h = raw::open_session(env.slot.id() as CK_SLOT_ID);
        let key = raw::find_one(h, "null-param", CKO_SECRET_KEY);
        let f = raw::fns();
        let encrypts = env.count("POST", "/v1/encrypt");
        for len in [std::mem::size_of::<CK_SP800_108_COUNTER_FORMAT>(), 4, 1] {
            let mut data = [CK_PRF_DATA_PARAM {
                type_: CK_SP800_108_ITERATION_VARIABLE,
                pValue: std::ptr::null_mut(),
                ulValueLen: len as CK_ULONG,
            }];
            for mech in [CKM_SP800_108_COUNTER_KDF, CKM_SP800_108_DOUBLE_PIPELINE_KDF] {
                let mut p = CK_SP800_108_KDF_PARAMS {
                    prfType: CKM_AES_CMAC,
                    ulNumberOfDataParams: 1,
                    pDataParams: data.as_mut_ptr(),
                    ulAdditionalDerivedKeys: 0,
                    pAdditionalDerivedKeys: std::ptr::null_mut(),
                };
                let mut m = CK_MECHANISM {
                    mechanism: mech,
                    pParameter: &mut p as *mut _ as *mut _,
                    ulParameterLen: std::mem::size_of_val(&p) as CK_ULONG,
                };
                let mut out = 0;
                let r = unsafe {
                    f.C_DeriveKey.unwrap()(h, &mut m, key, std::ptr::null_mut(), 0, &mut out)
                };
                assert_eq!(r, CKR_MECHANISM_PARAM_INVALID, "0x{mech:x}, {len} bytes");
            }
            let mut fb = CK_SP800_108_FEEDBACK_KDF_PARAMS {
                prfType: CKM_AES_CMAC,
                ulNumberOfDataParams: 1,
                pDataParams: data.as_mut_ptr(),
                ulIVLen: 0,
                pIV: std::ptr::null_mut(),
                ulAdditionalDerivedKeys: 0,
                pAdditionalDerivedKeys: std::ptr::null_mut(),
            };
            let mut m = CK_MECHANISM {
                mechanism: CKM_SP800_108_FEEDBACK_KDF,
                pParameter: &mut fb as *mut _ as *mut _,
                ulParameterLen: std::mem::size_of_val(&fb) as CK_ULONG,
            };
            let mut out = 0;
            let r = unsafe {
                f.C_DeriveKey.unwrap()(h, &mut m, key, std::ptr::null_mut(), 0, &mut out)
            };
            assert_eq!(r, CKR_MECHANISM_PARAM_INVALID, "feedback, {len} bytes");
        }
        assert_eq!(env.count("POST", "/v1/encrypt"), encrypts, "no PRF request");
    }
);
