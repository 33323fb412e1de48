//! Data rights: what a member's export holds (their profile and every message they wrote).
//! Deleting an account (`delete_account`) carries no payload of its own.

use super::{Message, User};
use serde::{Deserialize, Serialize};

/// One member's data, as `export_data` answers it and `GET /api/users/{username}/export`
/// serves it: everything the server keeps that is theirs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DataExport {
    /// The account.
    pub user: User,
    /// Their custom status.
    pub status: Option<String>,
    /// When the account was made, Unix milliseconds.
    pub created_at: i64,
    /// When this export was made, Unix milliseconds.
    pub exported_at: i64,
    /// Every message they wrote, in every channel they can still read (direct ones too),
    /// oldest first.
    pub messages: Vec<Message>,
}
