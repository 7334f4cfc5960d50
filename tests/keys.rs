//! Issue 3: loading, slot/token/session functions, objects, find, key generation, destroy,
//! configuration — through the `cryptoki` crate against the emulator.

mod common;

use common::{ec_params, rv};

use base64::Engine;
use common::{Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;

const CKA_TSB_POLICY: u64 = 0xD453_0001;
const CKA_TSB_APPROVAL_REQUIRED: u64 = 0xD453_0003;

fn gen_rsa(
    s: &Session,
    label: &str,
    bits: u64,
    extra_priv: Vec<Attribute>,
) -> (ObjectHandle, ObjectHandle) {
    let public = vec![
        Attribute::Token(true),
        Attribute::ModulusBits(bits.into()),
        Attribute::PublicExponent(vec![1, 0, 1]),
        Attribute::Label(label.into()),
        Attribute::Verify(true),
    ];
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Label(label.into()),
        Attribute::Sign(true),
        Attribute::Id(vec![0xa1, 0xb2]),
    ];
    private.extend(extra_priv);
    s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
        .expect("generate RSA")
}

fn emulator_spki(env: &Env, label: &str) -> Vec<u8> {
    let body = serde_json::json!({"label": label});
    let r: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/key/attributes", env.emu.base_url()))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(r["json"]["publicKey"].as_str().unwrap())
        .unwrap()
}

fn attr_bytes(s: &Session, h: ObjectHandle, t: AttributeType) -> Vec<u8> {
    match s.get_attributes(h, &[t]).unwrap().pop() {
        Some(Attribute::PublicKeyInfo(v))
        | Some(Attribute::Modulus(v))
        | Some(Attribute::EcPoint(v))
        | Some(Attribute::EcParams(v))
        | Some(Attribute::Id(v))
        | Some(Attribute::Label(v))
        | Some(Attribute::Value(v))
        | Some(Attribute::PublicExponent(v)) => v,
        Some(Attribute::VendorDefined((_, v))) => v,
        other => panic!("unexpected {other:?}"),
    }
}

isolated!(
    fn no_network_io_for_init_slots_tokens_sessions() {
        let env = Env::new(Opts::default());
        let info = env.pkcs11.get_library_info().unwrap();
        assert_eq!(info.manufacturer_id(), "tsb-pkcs11");
        let ti = env.pkcs11.get_token_info(env.slot).unwrap();
        assert_eq!(ti.label(), "test-tsb");
        assert!(ti.token_initialized() && !ti.login_required());
        let si = env.pkcs11.get_slot_info(env.slot).unwrap();
        assert!(si.token_present());
        let mechs = env.pkcs11.get_mechanism_list(env.slot).unwrap();
        assert!(mechs.len() >= 20);
        let mi = env
            .pkcs11
            .get_mechanism_info(
                env.slot,
                cryptoki::mechanism::MechanismType::RSA_PKCS_KEY_PAIR_GEN,
            )
            .unwrap();
        // The RSA sizes the TSB generates (tsb_models::RSA_KEY_SIZES).
        assert_eq!((mi.min_key_size(), mi.max_key_size()), (1024, 8192));
        assert!(mi.generate_key_pair());
        // CKF_HW: the HSM generates the key (and signs with it); the module hashes SHA-256
        // itself.
        assert!(mi.hardware());
        let sign = env
            .pkcs11
            .get_mechanism_info(env.slot, cryptoki::mechanism::MechanismType::ECDSA)
            .unwrap();
        assert!(sign.sign() && sign.hardware());
        let digest = env
            .pkcs11
            .get_mechanism_info(env.slot, cryptoki::mechanism::MechanismType::SHA256)
            .unwrap();
        assert!(digest.digest() && !digest.hardware());
        let s = env.session();
        let info = s.get_session_info().unwrap();
        assert_eq!(info.session_state(), SessionState::RwPublic);
        s.login(UserType::User, Some(&AuthPin::new("ignored".into())))
            .unwrap();
        assert_eq!(
            s.get_session_info().unwrap().session_state(),
            SessionState::RwUser
        );
        assert_eq!(
            rv(s.login(UserType::User, Some(&AuthPin::new("x".into())))
                .unwrap_err()),
            RvError::UserAlreadyLoggedIn
        );
        s.logout().unwrap();
        drop(s);
        // Nothing above may have touched the network.
        assert!(
            env.emu.request_counts().is_empty(),
            "requests: {:?}",
            env.emu.request_counts()
        );
    }
);

isolated!(
    fn generate_every_key_type_and_read_attributes() {
        let env = Env::new(Opts::default());
        let s = env.session();
        for bits in [2048u64, 3072] {
            let label = format!("rsa{bits}");
            let (pubh, privh) = gen_rsa(&s, &label, bits, vec![]);
            let spki = attr_bytes(&s, pubh, AttributeType::PublicKeyInfo);
            assert_eq!(
                spki,
                emulator_spki(&env, &label),
                "CKA_PUBLIC_KEY_INFO is the TSB's key"
            );
            let pk = openssl::pkey::PKey::public_key_from_der(&spki).unwrap();
            let rsa = pk.rsa().unwrap();
            assert_eq!(
                attr_bytes(&s, pubh, AttributeType::Modulus),
                rsa.n().to_vec()
            );
            assert_eq!(
                attr_bytes(&s, privh, AttributeType::Modulus),
                rsa.n().to_vec()
            );
            assert_eq!(
                attr_bytes(&s, pubh, AttributeType::PublicExponent),
                vec![1, 0, 1]
            );
            assert_eq!(attr_bytes(&s, privh, AttributeType::Id), vec![0xa1, 0xb2]);
            let attrs = s
                .get_attributes(
                    privh,
                    &[
                        AttributeType::Class,
                        AttributeType::KeyType,
                        AttributeType::Sign,
                        AttributeType::Decrypt,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                        AttributeType::Local,
                        AttributeType::AlwaysAuthenticate,
                        AttributeType::Token,
                    ],
                )
                .unwrap();
            assert_eq!(
                attrs,
                vec![
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::KeyType(KeyType::RSA),
                    Attribute::Sign(true),
                    Attribute::Decrypt(false),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::NeverExtractable(true),
                    Attribute::Local(true),
                    Attribute::AlwaysAuthenticate(false),
                    Attribute::Token(true)
                ]
            );
            let bits_attr = s
                .get_attributes(pubh, &[AttributeType::ModulusBits])
                .unwrap();
            assert_eq!(bits_attr, vec![Attribute::ModulusBits(bits.into())]);
        }
        for (name, oid, field) in [
            ("p256", "1.2.840.10045.3.1.7", 32usize),
            ("p384", "1.3.132.0.34", 48),
            ("p521", "1.3.132.0.35", 66),
            ("k256", "1.3.132.0.10", 32),
        ] {
            let public = vec![
                Attribute::EcParams(ec_params(oid)),
                Attribute::Label(name.into()),
                Attribute::Token(true),
            ];
            let private = vec![
                Attribute::Token(true),
                Attribute::Label(name.into()),
                Attribute::Sign(true),
            ];
            let (pubh, privh) = s
                .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
                .unwrap();
            let point = attr_bytes(&s, pubh, AttributeType::EcPoint);
            assert_eq!(point[0], 0x04, "DER OCTET STRING");
            assert_eq!(
                point.len(),
                2 + 1 + 2 * field + usize::from(2 * field + 1 > 127)
            );
            assert_eq!(
                attr_bytes(&s, privh, AttributeType::EcParams),
                ec_params(oid)
            );
            assert_eq!(
                attr_bytes(&s, pubh, AttributeType::PublicKeyInfo),
                emulator_spki(&env, name)
            );
            let kt = s.get_attributes(privh, &[AttributeType::KeyType]).unwrap();
            assert_eq!(kt, vec![Attribute::KeyType(KeyType::EC)]);
        }
        // Curve by printable name, as some tools send it.
        let mut named = vec![0x13, 10];
        named.extend_from_slice(b"prime256v1");
        s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(named),
                Attribute::Label("named".into()),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
        let (pubh, _) = s
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::EcParams(ec_params("1.3.101.112")),
                    Attribute::Label("ed".into()),
                ],
                &[Attribute::Token(true), Attribute::Sign(true)],
            )
            .unwrap();
        let kt = s.get_attributes(pubh, &[AttributeType::KeyType]).unwrap();
        assert_eq!(kt, vec![Attribute::KeyType(KeyType::EC_EDWARDS)]);
        assert_eq!(
            attr_bytes(&s, pubh, AttributeType::PublicKeyInfo),
            emulator_spki(&env, "ed")
        );
    }
);

isolated!(
    fn policy_from_vendor_attribute_and_from_config_default() {
        // The config's default policy makes keys from plain templates approval-gated.
        let probe = tsb_approve::ApproverKey::generate(tsb_approve::KeyKind::EcP256);
        let default_policy = common::policy_for(&[probe.public_key_b64()], 1, 600);
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"default_policy": default_policy})),
            ..Default::default()
        });
        let s = env.session();
        let (_, plain_default) = gen_rsa(&s, "from-default", 2048, vec![]);
        let p = attr_bytes(
            &s,
            plain_default,
            AttributeType::VendorDefined(CKA_TSB_POLICY),
        );
        let p: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(
            p["ruleUse"]["tokens"][0]["groups"][0]["approvals"][0]["value"],
            probe.public_key_b64()
        );
        let req = s
            .get_attributes(
                plain_default,
                &[AttributeType::VendorDefined(CKA_TSB_APPROVAL_REQUIRED)],
            )
            .unwrap();
        assert_eq!(
            req,
            vec![Attribute::VendorDefined((
                AttributeType::VendorDefined(CKA_TSB_APPROVAL_REQUIRED),
                vec![1]
            ))]
        );
        // The vendor attribute wins; "null" asks for a plain key even with a default.
        let mine = env.policy(600).to_string();
        let (_, vendor) = gen_rsa(
            &s,
            "from-vendor",
            2048,
            vec![Attribute::VendorDefined((
                AttributeType::VendorDefined(CKA_TSB_POLICY),
                mine.into_bytes(),
            ))],
        );
        let p: serde_json::Value = serde_json::from_slice(&attr_bytes(
            &s,
            vendor,
            AttributeType::VendorDefined(CKA_TSB_POLICY),
        ))
        .unwrap();
        assert_eq!(
            p["ruleUse"]["tokens"][0]["groups"][0]["approvals"][0]["value"],
            env.approver.key().public_key_b64()
        );
        let (_, none) = gen_rsa(
            &s,
            "no-policy",
            2048,
            vec![Attribute::VendorDefined((
                AttributeType::VendorDefined(CKA_TSB_POLICY),
                b"null".to_vec(),
            ))],
        );
        assert!(attr_bytes(&s, none, AttributeType::VendorDefined(CKA_TSB_POLICY)).is_empty());
        // What the emulator stored.
        let r: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("{}/v1/key/attributes", env.emu.base_url()))
            .json(&serde_json::json!({"label": "from-default"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(r["json"]["policy"]["ruleUse"].is_object());
    }
);

isolated!(
    /// Since TSB 2.0.1 "never fulfillable RuleModify, RuleBlock, and RuleUnblock" are allowed (S2
    /// `tsb/Download/release_notes.md`, audit divergence #8): a frozen `ruleModify` in the config's
    /// default policy or in CKA_TSB_POLICY is accepted; a `ruleUse` that can never be met is not.
    fn never_fulfillable_quorum_is_refused_only_in_rule_use() {
        let probe = tsb_approve::ApproverKey::generate(tsb_approve::KeyKind::EcP256);
        let mut frozen = common::policy_for(&[probe.public_key_b64()], 2, 600);
        let usable = common::policy_for(&[probe.public_key_b64()], 1, 600);
        let mut default_policy = usable.clone();
        default_policy["ruleModify"] = frozen["ruleUse"].clone();
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"default_policy": default_policy})),
            ..Default::default()
        });
        let s = env.session();
        gen_rsa(&s, "frozen-modify", 2048, vec![]);
        let mut vendor = usable.clone();
        vendor["ruleBlock"] = frozen["ruleUse"].clone();
        vendor["ruleUnblock"] = frozen["ruleUse"].clone();
        gen_rsa(
            &s,
            "frozen-block",
            2048,
            vec![Attribute::VendorDefined((
                AttributeType::VendorDefined(CKA_TSB_POLICY),
                vendor.to_string().into_bytes(),
            ))],
        );
        frozen["ruleModify"] = serde_json::Value::Null;
        let public = vec![
            Attribute::Token(true),
            Attribute::ModulusBits(2048.into()),
            Attribute::Label("unusable".into()),
        ];
        let private = vec![
            Attribute::Token(true),
            Attribute::Label("unusable".into()),
            Attribute::Sign(true),
            Attribute::VendorDefined((
                AttributeType::VendorDefined(CKA_TSB_POLICY),
                frozen.to_string().into_bytes(),
            )),
        ];
        let e = s
            .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
            .unwrap_err();
        assert_eq!(rv(e), RvError::AttributeValueInvalid);
        assert_eq!(env.count("POST", "/v1/key"), 2);
    }
);

isolated!(
    fn find_by_label_id_class_with_stable_handles_and_few_requests() {
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"cache_ttl_s": 3600})),
            ..Default::default()
        });
        let s = env.session();
        let (pubh, privh) = gen_rsa(&s, "findme", 2048, vec![]);
        gen_rsa(&s, "other", 2048, vec![]);
        // A key the module has never seen (created on the TSB by someone else): the find by
        // label asks for that one key, and never lists.
        let created = reqwest::blocking::Client::new()
            .post(format!("{}/v1/key", env.emu.base_url()))
            .json(&serde_json::json!({"label": "made-elsewhere", "algorithm": "EC",
                "curveOid": "1.2.840.10045.3.1.7", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}))
            .send()
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        env.emu.reset_counts();
        let elsewhere = s
            .find_objects(&[
                Attribute::Label("made-elsewhere".into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ])
            .unwrap();
        assert_eq!(elsewhere.len(), 1);
        assert_eq!(env.count("POST", "/v1/key/attributes"), 1);
        assert_eq!(
            env.count("GET", "/v1/key"),
            0,
            "a find by label must not list keys"
        );
        // A key it generated is found from its cache, with the handle it returned then.
        env.emu.reset_counts();
        let found = s
            .find_objects(&[
                Attribute::Label("findme".into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ])
            .unwrap();
        assert_eq!(found, vec![privh], "same handle as at generation");
        assert!(env.emu.request_counts().is_empty());
        let by_id = s.find_objects(&[Attribute::Id(vec![0xa1, 0xb2])]).unwrap();
        assert!(
            by_id.contains(&pubh) && by_id.contains(&privh) && by_id.len() == 4,
            "{by_id:?}"
        );
        let pubs = s
            .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
            .unwrap();
        assert_eq!(pubs.len(), 3);
        let none = s.find_objects(&[Attribute::Label("nope".into())]).unwrap();
        assert!(none.is_empty());
        // A second listing within the TTL asks nothing new.
        let before = env.emu.request_counts();
        let again = s
            .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
            .unwrap();
        assert_eq!(again, pubs, "handles are stable");
        assert_eq!(env.emu.request_counts(), before);
    }
);

isolated!(
    fn handles_stable_across_cache_refresh() {
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"cache_ttl_s": 0})),
            ..Default::default()
        });
        let s = env.session();
        let (_, privh) = gen_rsa(&s, "stable", 2048, vec![]);
        for _ in 0..3 {
            let f = s
                .find_objects(&[
                    Attribute::Label("stable".into()),
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                ])
                .unwrap();
            assert_eq!(f, vec![privh]);
        }
        assert!(
            env.count("POST", "/v1/key/attributes") >= 3,
            "TTL 0 refetches"
        );
    }
);

isolated!(
    fn destroy_key_and_random() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (pubh, privh) = gen_rsa(&s, "doomed", 2048, vec![]);
        s.destroy_object(privh).unwrap();
        assert!(s
            .find_objects(&[Attribute::Label("doomed".into())])
            .unwrap()
            .is_empty());
        assert_eq!(
            rv(s.get_attributes(pubh, &[AttributeType::Label]).unwrap_err()),
            RvError::ObjectHandleInvalid
        );
        let r = s.generate_random_vec(48).unwrap();
        assert_eq!(r.len(), 48);
        assert_eq!(env.count("GET", "/v1/generateRandom/48"), 1);
    }
);

isolated!(
    fn environment_only_configuration() {
        let env = Env::new(Opts {
            env_only: true,
            ..Default::default()
        });
        let s = env.session();
        gen_rsa(&s, "env-key", 2048, vec![]);
        assert_eq!(
            s.find_objects(&[Attribute::Label("env-key".into())])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(env.pkcs11.get_token_info(env.slot).unwrap().label(), "TSB");
    }
);

isolated!(
    fn template_errors_and_existing_label() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let e = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[Attribute::Label("x".into())],
                &[Attribute::Sign(true)],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::TemplateIncomplete, "no CKA_MODULUS_BITS");
        let e = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::ModulusBits(1536.into()),
                    Attribute::Label("x".into()),
                ],
                &[],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::KeySizeRange);
        let e = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::EcParams(vec![0x06, 0x01]),
                    Attribute::Label("x".into()),
                ],
                &[],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::AttributeValueInvalid);
        let e = s
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::EcParams(ec_params("1.3.36.3.3.2.8.1.1.7")),
                    Attribute::Label("x".into()),
                ],
                &[],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::CurveNotSupported);
        let e = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::ModulusBits(2048.into()),
                    Attribute::Label("x".into()),
                ],
                &[Attribute::Class(ObjectClass::SECRET_KEY)],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::TemplateInconsistent);
        let e = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::ModulusBits(2048.into()),
                    Attribute::Label("x".into()),
                ],
                &[Attribute::VendorDefined((
                    AttributeType::VendorDefined(0xC000_0001),
                    vec![],
                ))],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::AttributeTypeInvalid);
        // No request reached the TSB for any of these.
        assert_eq!(env.count("POST", "/v1/key"), 0);
        gen_rsa(&s, "dup", 2048, vec![]);
        let e = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::ModulusBits(2048.into()),
                    Attribute::Label("dup".into()),
                ],
                &[Attribute::Token(true)],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::AttributeValueInvalid);
        let info = s.get_session_info().unwrap();
        assert_eq!(
            info.device_error(),
            608,
            "ulDeviceError carries the TSB errorCode"
        );
        // A read-only session cannot generate.
        let ro = env.pkcs11.open_ro_session(env.slot).unwrap();
        let e = ro
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::ModulusBits(2048.into()),
                    Attribute::Label("ro".into()),
                ],
                &[Attribute::Token(true)],
            )
            .unwrap_err();
        assert_eq!(rv(e), RvError::SessionReadOnly);
    }
);

isolated!(
    fn attribute_value_semantics() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (_, privh) = gen_rsa(&s, "attrs", 2048, vec![]);
        // Sensitive and invalid attributes: CK_UNAVAILABLE_INFORMATION for those, the rest filled.
        let info = s
            .get_attribute_info(
                privh,
                &[
                    AttributeType::PrivateExponent,
                    AttributeType::Label,
                    AttributeType::EcPoint,
                ],
            )
            .unwrap();
        use cryptoki::object::AttributeInfo;
        assert!(matches!(info[0], AttributeInfo::Sensitive), "{:?}", info[0]);
        assert!(
            matches!(info[1], AttributeInfo::Available(5)),
            "{:?}",
            info[1]
        );
        assert!(
            matches!(info[2], AttributeInfo::TypeInvalid),
            "{:?}",
            info[2]
        );
    }
);

isolated!(
    fn secrets_never_logged() {
        let token_file = common::temp_dir("secret").join("token");
        std::fs::write(&token_file, "super-secret-jwt-123").unwrap();
        let log = common::temp_dir("log").join("trace.log");
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({
                "token": {"file": token_file},
                "api_keys": {"keyOperationToken": {"env": "TEST_OP_KEY"}, "keyManagementToken": {"env": "TEST_MGMT_KEY"}},
                "key_password": {"env": "TEST_KEY_PW"}
            })),
            env: vec![
                ("TEST_KEY_PW".into(), "key-pw-321".into()),
                ("TEST_OP_KEY".into(), "op-api-key-456".into()),
                ("TEST_MGMT_KEY".into(), "mgmt-api-key-789".into()),
                ("TSB_PKCS11_LOG".into(), "trace".into()),
                ("TSB_PKCS11_LOG_FILE".into(), log.display().to_string()),
            ],
            emulator: Some(tsb_emulator::EmulatorConfig {
                bearer_token: Some("super-secret-jwt-123".into()),
                api_keys: vec![
                    (tsb_emulator::Role::KeyOperation, "op-api-key-456".into()),
                    (tsb_emulator::Role::KeyManagement, "mgmt-api-key-789".into()),
                ],
                ..Default::default()
            }),
            ..Default::default()
        });
        let s = env.session();
        s.login(
            UserType::User,
            Some(&AuthPin::new("pin-should-not-appear".into())),
        )
        .unwrap();
        gen_rsa(&s, "logged", 2048, vec![]);
        let priv_key = s
            .find_objects(&[
                Attribute::Label("logged".into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ])
            .unwrap()[0];
        s.sign(&Mechanism::Sha256RsaPkcs, priv_key, b"data")
            .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("POST /v1/synchronousSign -> 200"),
            "trace log has the calls:\n{text}"
        );
        for secret in [
            "super-secret-jwt-123",
            "op-api-key-456",
            "mgmt-api-key-789",
            "pin-should-not-appear",
            "key-pw-321",
        ] {
            assert!(!text.contains(secret), "{secret} leaked into the log");
        }
    }
);

isolated!(
    fn broken_config_fails_initialize_naming_file_line_field() {
        let dir = common::temp_dir("badcfg");
        let path = dir.join("config.json");
        std::fs::write(&path, "{\n  \"slots\": [\n    {\n      \"url\": \"http://10.0.0.1:8080\",\n      \"allow_http\": true\n    }\n  ]\n}\n").unwrap();
        std::env::set_var("TSB_PKCS11_CONFIG", &path);
        let log = dir.join("log.txt");
        std::env::set_var("TSB_PKCS11_LOG_FILE", &log);
        let p = cryptoki::context::Pkcs11::new(common::module_path()).unwrap();
        let e = p
            .initialize(cryptoki::context::CInitializeArgs::OsThreads)
            .unwrap_err();
        assert_eq!(rv(e), RvError::GeneralError);
        let text = std::fs::read_to_string(&log).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("config error"))
            .expect("one config error line");
        assert!(
            line.contains(&path.display().to_string())
                && line.contains("line 4")
                && line.contains("slots[0].url"),
            "{line}"
        );
    }
);
