//! Admin calls for access tokens (the REST API's `Authorization: Bearer` secrets).

use super::exchange::unexpected;
use super::{Client, ClientError};
use crate::proto::{CreatedToken, Reply, Request, Scope, TokenInfo};

impl Client {
    /// Admin: makes an access token acting as the caller, limited to `scopes`; its secret is
    /// in the answer, once.
    pub async fn create_token(
        &self,
        name: &str,
        scopes: Vec<Scope>,
        expires_in_seconds: Option<u64>,
    ) -> Result<CreatedToken, ClientError> {
        match self.request(Request::CreateToken { name: name.into(), scopes, expires_in_seconds }).await? {
            Reply::TokenCreated(created) => Ok(created),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: every access token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        match self.request(Request::ListTokens).await? {
            Reply::Tokens(tokens) => Ok(tokens),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: revokes an access token at once.
    pub async fn revoke_token(&self, token_id: i64) -> Result<TokenInfo, ClientError> {
        match self.request(Request::RevokeToken { token_id }).await? {
            Reply::Token(token) => Ok(token),
            other => Err(unexpected(other)),
        }
    }
}
