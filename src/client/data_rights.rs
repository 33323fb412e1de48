//! Data rights: exporting a member's data and deleting an account.

use super::exchange::{expect_ok, unexpected};
use super::{Client, ClientError};
use crate::proto::{DataExport, Reply, Request};

impl Client {
    /// Everything the server keeps of `username` (default: the caller; others: admins only).
    pub async fn export_data(&self, username: Option<&str>) -> Result<DataExport, ClientError> {
        match self.request(Request::ExportData { username: username.map(str::to_string) }).await? {
            Reply::DataExport(export) => Ok(export),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes `username`'s account with everything that is theirs (default: the caller's own,
    /// which ends this connection; others: admins only).
    pub async fn delete_account(&self, username: Option<&str>) -> Result<(), ClientError> {
        expect_ok(self.request(Request::DeleteAccount { username: username.map(str::to_string) }).await?)
    }
}
