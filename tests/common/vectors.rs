//! Published test vectors shared by several test binaries.

/// Bytes from hex digits, whitespace ignored (vectors laid out as published).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex literal"))
        .collect()
}

/// An AES-GCM test vector: key, IV, plaintext, AAD, ciphertext, tag.
pub struct Gcm {
    pub key: Vec<u8>,
    pub iv: Vec<u8>,
    pub plain: Vec<u8>,
    pub aad: Vec<u8>,
    pub cipher: Vec<u8>,
    pub tag: Vec<u8>,
}

/// The GCM specification's test case 4 (McGrew and Viega, "The Galois/Counter Mode of
/// Operation").
pub fn gcm_case4() -> Gcm {
    Gcm {
        key: hex("feffe9928665731c6d6a8f9467308308"),
        iv: hex("cafebabefacedbaddecaf888"),
        plain: hex(
            "d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72
             1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b39",
        ),
        aad: hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
        cipher: hex(
            "42831ec2217774244b7221b784d0d49c e3aa212f2c02a4e035c17e2329aca12e
             21d514b25466931c7d8f6a5aac84aa05 1ba30b396a0aac973d58e091",
        ),
        tag: hex("5bc94fbc3221a5db94fae95ae7121a47"),
    }
}
