//! The vendor extension's view of TSB requests: TSB_GetRequestStatus and TSB_CancelRequest.

use super::session::Session;
use super::Module;
use crate::error::Result;
use crate::vendor;
use cryptoki_sys::CK_ULONG;
use tsb_models::RequestState;

/// TSB_GetRequestStatus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestInfo {
    /// TSB_REQUEST_PENDING ... TSB_REQUEST_CANCELLED.
    pub(crate) status: CK_ULONG,
    pub(crate) approvals_given: usize,
    pub(crate) approvals_outstanding: usize,
    pub(crate) rejections: usize,
    /// The result of an executed request.
    pub(crate) result: Option<String>,
}

/// The vendor status code of a request state.
fn status_code(s: RequestState) -> CK_ULONG {
    match s {
        RequestState::Pending => vendor::TSB_REQUEST_PENDING,
        RequestState::Approved => vendor::TSB_REQUEST_APPROVED,
        RequestState::Executed => vendor::TSB_REQUEST_EXECUTED,
        RequestState::Failed => vendor::TSB_REQUEST_FAILED,
        RequestState::Expired => vendor::TSB_REQUEST_EXPIRED,
        RequestState::Rejected => vendor::TSB_REQUEST_REJECTED,
        RequestState::Cancelled => vendor::TSB_REQUEST_CANCELLED,
    }
}

impl Module {
    /// TSB_GetRequestStatus.
    pub(crate) fn request_status(&self, session: &Session, id: &str) -> Result<RequestInfo> {
        let slot = self.slot_of(session);
        slot.check_access()?;
        let st = slot.tsb.request_status(id)?;
        Ok(RequestInfo {
            status: status_code(st.status),
            approvals_given: st.approved_by.len(),
            approvals_outstanding: st.not_yet_approved_by.len(),
            rejections: st.rejected_by.len(),
            result: st.result,
        })
    }

    /// TSB_CancelRequest.
    pub(crate) fn cancel_request(&self, session: &Session, id: &str) -> Result<()> {
        let slot = self.slot_of(session);
        slot.check_access()?;
        slot.tsb.cancel_request(id)
    }
}
