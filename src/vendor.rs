//! Vendor constants of tsb-pkcs11, exported to C through `include/tsb_pkcs11.h` (cbindgen).
//!
//! The numbers live in the vendor ranges of PKCS#11: `CKA_VENDOR_DEFINED | 0x5453000n` and
//! `CKR_VENDOR_DEFINED | 0x5453000n` (0x5453 is "TS"), written out as 0xD453000n.

use std::os::raw::c_ulong;

/// Private-key (and public-key) attribute: the key's SKA policy as UTF-8 JSON (the TSB `policy`
/// object). Readable on every key (empty for keys without a policy); settable in the private-key
/// template of C_GenerateKeyPair to create an approval-gated key.
pub const CKA_TSB_POLICY: c_ulong = 0xD453_0001;
/// CK_BBOOL, read-only: the key is blocked on the TSB (`policy.keyStatus.blocked`) and refuses use.
pub const CKA_TSB_BLOCKED: c_ulong = 0xD453_0002;
/// CK_BBOOL, read-only: using this key (sign, decrypt, CSR) waits for approvals.
pub const CKA_TSB_APPROVAL_REQUIRED: c_ulong = 0xD453_0003;

/// CK_RV: the approval request expired on the TSB (the policy's timeout passed) before a decision.
pub const CKR_TSB_APPROVAL_EXPIRED: c_ulong = 0xD453_0001;
/// CK_RV: the module's own approval timeout passed while the request was still pending. The request
/// stays pending on the TSB; the same operation asked again resumes waiting on it.
pub const CKR_TSB_APPROVAL_TIMEOUT: c_ulong = 0xD453_0002;

/// ulDeviceError after a rejected request (CKR_FUNCTION_REJECTED).
pub const TSB_DEVERR_REJECTED: c_ulong = 10001;
/// ulDeviceError after an expired request (CKR_TSB_APPROVAL_EXPIRED).
pub const TSB_DEVERR_EXPIRED: c_ulong = 10002;
/// ulDeviceError after a cancelled request (CKR_FUNCTION_CANCELED).
pub const TSB_DEVERR_CANCELLED: c_ulong = 10003;
/// ulDeviceError after a request that was approved but failed on the HSM (CKR_DEVICE_ERROR).
pub const TSB_DEVERR_FAILED: c_ulong = 10004;
/// ulDeviceError after the module's approval timeout (CKR_TSB_APPROVAL_TIMEOUT).
pub const TSB_DEVERR_TIMEOUT: c_ulong = 10005;
/// ulDeviceError when the TSB could not be reached (CKR_DEVICE_ERROR).
pub const TSB_DEVERR_TRANSPORT: c_ulong = 10006;
/// ulDeviceError when the TSB answered a result that fails verification (CKR_DEVICE_ERROR): a
/// signature that does not verify with the key's public key, or a plaintext longer than its
/// padding allows. The value was not returned; the log says which key and operation.
pub const TSB_DEVERR_BAD_RESULT: c_ulong = 10007;
/// ulDeviceError when a call reached the TSB but its answer was lost (CKR_DEVICE_ERROR): the TSB
/// may have done it. For an approval-gated operation a request for the approvers may exist; the
/// same operation is refused (not asked again) until the marker ends, see README "Security".
pub const TSB_DEVERR_OUTCOME_UNKNOWN: c_ulong = 10008;

/// Upper bound returned by a length query of TSB_CreateCSR or TSB_IssueCertificate (the real size
/// is only known once the TSB made it, and making it may need approvals). PEM of an RSA-4096
/// certificate with long names stays well below this.
pub const TSB_OUTPUT_ESTIMATE: usize = 16 * 1024;

/// TSB_CreateCSR / TSB_IssueCertificate outputFormat: PEM text (the default).
pub const TSB_OUTPUT_PEM: c_ulong = 0;
/// TSB_CreateCSR / TSB_IssueCertificate outputFormat: DER.
pub const TSB_OUTPUT_DER: c_ulong = 1;

/// TSB_REQUEST_INFO.status: waiting for approvals.
pub const TSB_REQUEST_PENDING: c_ulong = 1;
/// TSB_REQUEST_INFO.status: quorum reached, waiting for execution (timelock).
pub const TSB_REQUEST_APPROVED: c_ulong = 2;
/// TSB_REQUEST_INFO.status: done; the result is available.
pub const TSB_REQUEST_EXECUTED: c_ulong = 3;
/// TSB_REQUEST_INFO.status: approved but the HSM failed.
pub const TSB_REQUEST_FAILED: c_ulong = 4;
/// TSB_REQUEST_INFO.status: the policy's timeout passed.
pub const TSB_REQUEST_EXPIRED: c_ulong = 5;
/// TSB_REQUEST_INFO.status: the approvers rejected it.
pub const TSB_REQUEST_REJECTED: c_ulong = 6;
/// TSB_REQUEST_INFO.status: deleted.
pub const TSB_REQUEST_CANCELLED: c_ulong = 7;
