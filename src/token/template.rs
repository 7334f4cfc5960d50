//! Attribute templates, copied out of C memory once (`ffi::read_template`) and read here with
//! typed accessors. A value's size is checked against its type: CK_ULONG is the platform's
//! `unsigned long` (4 or 8 bytes), CK_BBOOL one byte; a value of another size is
//! CKR_ATTRIBUTE_VALUE_INVALID.

use crate::error::{Error, Result};
use cryptoki_sys::*;

/// One template attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) ty: CK_ATTRIBUTE_TYPE,
    pub(crate) value: Vec<u8>,
}

impl Attr {
    pub(crate) fn new(ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) -> Attr {
        Attr { ty, value }
    }

    fn invalid(&self, what: &str) -> Error {
        Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("attribute 0x{:x} must be {what}", self.ty),
        )
    }

    /// The value as a CK_ULONG (native byte order, as C wrote it).
    pub(crate) fn as_ulong(&self) -> Result<CK_ULONG> {
        let b: [u8; std::mem::size_of::<CK_ULONG>()] = self
            .value
            .as_slice()
            .try_into()
            .map_err(|_| self.invalid("a CK_ULONG"))?;
        Ok(CK_ULONG::from_ne_bytes(b))
    }

    /// The value as a CK_BBOOL (any non-zero byte is true).
    pub(crate) fn as_bool(&self) -> Result<bool> {
        match self.value.as_slice() {
            [b] => Ok(*b != 0),
            _ => Err(self.invalid("a CK_BBOOL")),
        }
    }

    /// The value as UTF-8 text.
    pub(crate) fn as_utf8(&self) -> Result<&str> {
        std::str::from_utf8(&self.value).map_err(|_| self.invalid("UTF-8"))
    }

    /// The value's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.value
    }
}

/// A template: the attributes in the caller's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Template(Vec<Attr>);

impl Template {
    pub(crate) fn new(attrs: Vec<Attr>) -> Template {
        Template(attrs)
    }

    /// Every attribute, in order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Attr> {
        self.0.iter()
    }

    /// CKR_ATTRIBUTE_TYPE_INVALID when the template sets CKA_UNIQUE_ID, which the token
    /// chooses (PKCS#11 3.0 §4.4: it is not specified when an object is created). The code is
    /// kryoptic's, and the cryptoki crate's `unique_id` test expects it.
    pub(crate) fn refuse_unique_id(&self) -> Result<()> {
        match self.get(CKA_UNIQUE_ID) {
            Some(_) => Err(Error::ck(
                CKR_ATTRIBUTE_TYPE_INVALID,
                "CKA_UNIQUE_ID is chosen by the token, not by a template",
            )),
            None => Ok(()),
        }
    }

    /// The first attribute of type `ty`.
    pub(crate) fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&Attr> {
        self.0.iter().find(|a| a.ty == ty)
    }

    /// The CK_ULONG value of `ty`, if present.
    pub(crate) fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<CK_ULONG>> {
        self.get(ty).map(Attr::as_ulong).transpose()
    }

    /// The UTF-8 value of `ty`, if present.
    pub(crate) fn utf8(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<&str>> {
        self.get(ty).map(Attr::as_utf8).transpose()
    }

    /// The bytes of `ty`, if present.
    pub(crate) fn bytes(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.get(ty).map(Attr::bytes)
    }

    /// Zeroize every value: a template the module built around key material, once used.
    pub(crate) fn zeroize(&mut self) {
        use zeroize::Zeroize;
        for a in &mut self.0 {
            a.value.zeroize();
        }
    }
}

impl<'a> IntoIterator for &'a Template {
    type Item = &'a Attr;
    type IntoIter = std::slice::Iter<'a, Attr>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_check_their_size() {
        let n = std::mem::size_of::<CK_ULONG>();
        let t = Template::new(vec![
            Attr::new(CKA_CLASS, CKO_CERTIFICATE.to_ne_bytes().to_vec()),
            Attr::new(CKA_CERTIFICATE_TYPE, vec![0; n - 1]),
            Attr::new(CKA_TOKEN, vec![1]),
            Attr::new(CKA_PRIVATE, vec![1, 0]),
            Attr::new(CKA_LABEL, b"k\xc3\xa9".to_vec()),
            Attr::new(CKA_ID, vec![0xff, 0xfe]),
        ]);
        assert_eq!(t.ulong(CKA_CLASS).unwrap(), Some(CKO_CERTIFICATE));
        assert_eq!(
            t.ulong(CKA_CERTIFICATE_TYPE).unwrap_err().rv(),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(t.ulong(CKA_VALUE).unwrap(), None);
        assert!(t.get(CKA_TOKEN).unwrap().as_bool().unwrap());
        assert_eq!(
            t.get(CKA_PRIVATE).unwrap().as_bool().unwrap_err().rv(),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(t.utf8(CKA_LABEL).unwrap(), Some("ké"));
        assert_eq!(
            t.utf8(CKA_ID).unwrap_err().rv(),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(t.bytes(CKA_ID), Some(&[0xff, 0xfe][..]));
        assert_eq!(t.iter().count(), 6);
    }
}
