//! The endpoints. Each authenticated one reads its arguments, turns them into the control
//! protocol's [`Request`] and hands that to the server ([`ServerView::call`]), which runs it
//! through the control handlers with the token's user and scopes. Adding an endpoint for a new
//! op is a handler here with its `#[utoipa::path]` and a line in [`api`].

use super::error::{ApiError, Json, Path, Query};
use super::ApiState;
use crate::ids::{ChannelId, MessageId};
use crate::net::PortMappingState;
use crate::proto::{
    AuditEntry, AuditPage, BackupInfo, BanInfo, BanSpec, Category, Channel, ChannelKind, ChannelList,
    ChannelPermissions, CreatedInvite, CreatedToken, DataExport, ErrorCode, HistoryPage, InviteInfo, KeywordFilter,
    Message, PendingRegistration, PermissionOverride, QuietHours, Reply, Request, Role, Scope, ServerInfo,
    SupervisionInfo, TokenInfo, UserPresence, VpnStatus,
};
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes that are in the OpenAPI document.
pub(super) fn api() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(health))
        .routes(routes!(server_info))
        .routes(routes!(stats))
        .routes(routes!(list_users))
        .routes(routes!(set_role))
        .routes(routes!(export_data))
        .routes(routes!(delete_account))
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(rename_channel, delete_channel))
        .routes(routes!(list_categories, create_category))
        .routes(routes!(rename_category, delete_category))
        .routes(routes!(history, send_message))
        .routes(routes!(delete_message))
        .routes(routes!(list_invites, create_invite))
        .routes(routes!(revoke_invite))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(vpn_peers))
        .routes(routes!(channel_permissions, set_channel_permissions))
        .routes(routes!(category_permissions, set_category_permissions))
        .routes(routes!(kick))
        .routes(routes!(timeout))
        .routes(routes!(warn))
        .routes(routes!(moderation_history))
        .routes(routes!(reset_password))
        .routes(routes!(list_bans, ban))
        .routes(routes!(unban))
        .routes(routes!(set_slow_mode))
        .routes(routes!(audit_log))
        .routes(routes!(list_filters, add_filter))
        .routes(routes!(remove_filter))
        .routes(routes!(list_approvals))
        .routes(routes!(approve))
        .routes(routes!(deny))
        // Supervised members.
        .routes(routes!(supervision, supervise, unsupervise))
        .routes(routes!(allow_contact, disallow_contact))
        .routes(routes!(set_quiet_hours, clear_quiet_hours))
        // Backups.
        .routes(routes!(list_backups, start_backup))
        // Files, streamed (rest/files.rs).
        .routes(routes!(super::files::upload_file))
        .routes(routes!(super::files::download_file))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "IPTinCan REST API",
        description = "Scripts and bots: `Authorization: Bearer <access token>` (make one with `itc admin token create`)."
    ),
    components(schemas(super::error::ErrorBody))
)]
struct ApiDoc;

/// `GET /api/openapi.json`: this document.
pub(super) async fn openapi_json(State(state): State<ApiState>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], state.openapi.to_string()).into_response()
}

/// The access token of a request, once it passed the per-token rate limit.
pub(super) struct Bearer(pub(super) String);

impl FromRequestParts<ApiState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let secret = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| {
                ApiError::from_code(
                    ErrorCode::InvalidCredentials,
                    "send an access token: Authorization: Bearer <token>",
                )
            })?;
        let key = limit_key(secret);
        let mut limits = state.limits.lock().unwrap_or_else(|p| p.into_inner());
        limits.take(&key, Instant::now()).map_err(|wait| {
            ApiError::from_code(
                ErrorCode::RateLimited,
                format!("too many requests with this token; wait {} ms", wait.as_millis().max(1)),
            )
        })?;
        Ok(Bearer(secret.to_string()))
    }
}

/// The rate limiter's key for a token: a hash, so the limiter holds no secrets.
fn limit_key(secret: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    digest.as_ref()[..16].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Runs `request` on the server as the token's holder.
async fn call(state: &ApiState, bearer: &Bearer, request: Request) -> Result<Reply, ApiError> {
    state.view.call(&bearer.0, request).await
}

/// The answer when the server answers with another kind of reply than the op's.
fn unexpected(reply: &Reply) -> ApiError {
    tracing::error!(reply = ?std::mem::discriminant(reply), "REST endpoint got an unexpected reply");
    ApiError::from_code(ErrorCode::Internal, "the server answered unexpectedly")
}

/// The payload of the reply variant an op answers with, or (returning) [`unexpected`].
macro_rules! expect_reply {
    ($reply:expr, $variant:path) => {
        match $reply {
            $variant(value) => value,
            other => return Err(unexpected(&other)),
        }
    };
}

/// `Reply::Ok` as `204 No Content`.
fn no_content(reply: Reply) -> Result<StatusCode, ApiError> {
    match reply {
        Reply::Ok => Ok(StatusCode::NO_CONTENT),
        other => Err(unexpected(&other)),
    }
}

/// Whether the server answers.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok` while the server answers.
    status: String,
    /// Server software version.
    version: String,
    /// Whole seconds since the server started.
    uptime_seconds: u64,
}

/// Whether the server answers (no token needed).
#[utoipa::path(get, path = "/api/health", responses((status = 200, body = Health)))]
async fn health(State(state): State<ApiState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
        version: crate::version::current().into(),
        uptime_seconds: state.view.uptime().as_secs(),
    })
}

/// The public description, plus what router port mapping is doing.
#[derive(Serialize, utoipa::ToSchema)]
struct ServerReport {
    #[serde(flatten)]
    info: ServerInfo,
    port_mapping: PortMappingState,
}

/// The server's public description (no token needed).
#[utoipa::path(get, path = "/api/server", responses((status = 200, body = ServerReport)))]
async fn server_info(State(state): State<ApiState>) -> axum::Json<ServerReport> {
    axum::Json(ServerReport { info: state.view.server_info(), port_mapping: state.view.port_mapping() })
}

/// Counts for a dashboard or a monitoring script.
#[derive(Serialize, utoipa::ToSchema)]
struct ServerStats {
    /// Server software version.
    version: String,
    /// Whole seconds since the server started.
    uptime_seconds: u64,
    /// Accounts.
    users: usize,
    /// Accounts connected now.
    users_online: usize,
    /// Categories.
    categories: usize,
    /// Channels the token's user can read.
    channels: usize,
}

/// Server stats (scope `read`).
#[utoipa::path(get, path = "/api/stats", security(("bearer" = [])), responses((status = 200, body = ServerStats)))]
async fn stats(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<ServerStats>, ApiError> {
    let users = expect_reply!(call(&state, &bearer, Request::ListUsers).await?, Reply::Users);
    let list = channel_list(&state, &bearer).await?;
    Ok(axum::Json(ServerStats {
        version: crate::version::current().into(),
        uptime_seconds: state.view.uptime().as_secs(),
        users_online: users.iter().filter(|user| user.online).count(),
        users: users.len(),
        categories: list.categories.len(),
        channels: list.channels.len(),
    }))
}

/// Every account with presence (scope `read`).
#[utoipa::path(get, path = "/api/users", security(("bearer" = [])), responses((status = 200, body = Vec<UserPresence>)))]
async fn list_users(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<Vec<UserPresence>>, ApiError> {
    let users = expect_reply!(call(&state, &bearer, Request::ListUsers).await?, Reply::Users);
    Ok(axum::Json(users))
}

/// A user's new role.
#[derive(Deserialize, utoipa::ToSchema)]
struct RoleChange {
    role: Role,
}

/// Gives a user a role (scope `admin`; not one's own).
#[utoipa::path(put, path = "/api/users/{username}/role", security(("bearer" = [])),
    params(("username" = String, Path, description = "The user")), request_body = RoleChange,
    responses((status = 204, description = "Changed")))]
async fn set_role(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(change): Json<RoleChange>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::SetRole { username, role: change.role }).await?)
}

/// Everything the server keeps of a member: their profile and every message they wrote, as
/// one JSON document to save (scope `read`; the token's own user, or anyone's for an admin).
#[utoipa::path(get, path = "/api/users/{username}/export", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")),
    responses((status = 200, body = DataExport)))]
async fn export_data(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let export = expect_reply!(
        call(&state, &bearer, Request::ExportData { username: Some(username) }).await?,
        Reply::DataExport
    );
    let file = format!("attachment; filename=\"iptincan-{}.json\"", export.user.id);
    Ok(([(axum::http::header::CONTENT_DISPOSITION, file)], axum::Json(export)).into_response())
}

/// Deletes an account with its messages, sessions, access tokens, VPN peers and the invites
/// it made (scope `admin`; not the token's own user).
#[utoipa::path(delete, path = "/api/users/{username}", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")),
    responses((status = 204, description = "Deleted")))]
async fn delete_account(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::DeleteAccount { username: Some(username) }).await?)
}

async fn channel_list(state: &ApiState, bearer: &Bearer) -> Result<ChannelList, ApiError> {
    let list = expect_reply!(call(state, bearer, Request::ListChannels).await?, Reply::Channels);
    Ok(list)
}

/// Categories, the channels the token's user can read, and their read state (scope `read`).
#[utoipa::path(get, path = "/api/channels", security(("bearer" = [])), responses((status = 200, body = ChannelList)))]
async fn list_channels(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<ChannelList>, ApiError> {
    channel_list(&state, &bearer).await.map(axum::Json)
}

/// A new channel.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewChannel {
    /// 1 to 64 printable characters (a leading `#` is dropped).
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// Its category.
    #[serde(default)]
    category_id: Option<i64>,
    /// `text` (default) or `voice`.
    #[serde(default)]
    kind: ChannelKind,
}

/// Creates a channel (scope `admin`).
#[utoipa::path(post, path = "/api/channels", security(("bearer" = [])), request_body = NewChannel,
    responses((status = 201, body = Channel)))]
async fn create_channel(
    State(state): State<ApiState>,
    bearer: Bearer,
    Json(new): Json<NewChannel>,
) -> Result<(StatusCode, axum::Json<Channel>), ApiError> {
    let request = Request::CreateChannel { name: new.name, category_id: new.category_id, kind: new.kind };
    let channel = expect_reply!(call(&state, &bearer, request).await?, Reply::Channel);
    Ok((StatusCode::CREATED, axum::Json(channel)))
}

/// A new name.
#[derive(Deserialize, utoipa::ToSchema)]
struct Rename {
    /// 1 to 64 printable characters (a leading `#` is dropped).
    #[schema(min_length = 1, max_length = 64)]
    name: String,
}

/// Renames a channel (scope `admin`).
#[utoipa::path(patch, path = "/api/channels/{channel_id}", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel")), request_body = Rename,
    responses((status = 200, body = Channel)))]
async fn rename_channel(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
    Json(rename): Json<Rename>,
) -> Result<axum::Json<Channel>, ApiError> {
    let request = Request::RenameChannel { channel_id: ChannelId(channel_id), name: rename.name };
    let channel = expect_reply!(call(&state, &bearer, request).await?, Reply::Channel);
    Ok(axum::Json(channel))
}

/// Deletes a channel, its messages and its calls (scope `admin`).
#[utoipa::path(delete, path = "/api/channels/{channel_id}", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel")), responses((status = 204, description = "Deleted")))]
async fn delete_channel(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::DeleteChannel { channel_id: ChannelId(channel_id) }).await?)
}

/// Every category (scope `read`).
#[utoipa::path(get, path = "/api/categories", security(("bearer" = [])), responses((status = 200, body = Vec<Category>)))]
async fn list_categories(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<Vec<Category>>, ApiError> {
    Ok(axum::Json(channel_list(&state, &bearer).await?.categories))
}

/// Creates a category (scope `admin`).
#[utoipa::path(post, path = "/api/categories", security(("bearer" = [])), request_body = Rename,
    responses((status = 201, body = Category)))]
async fn create_category(
    State(state): State<ApiState>,
    bearer: Bearer,
    Json(new): Json<Rename>,
) -> Result<(StatusCode, axum::Json<Category>), ApiError> {
    let category =
        expect_reply!(call(&state, &bearer, Request::CreateCategory { name: new.name }).await?, Reply::Category);
    Ok((StatusCode::CREATED, axum::Json(category)))
}

/// Renames a category (scope `admin`).
#[utoipa::path(patch, path = "/api/categories/{category_id}", security(("bearer" = [])),
    params(("category_id" = i64, Path, description = "The category")), request_body = Rename,
    responses((status = 200, body = Category)))]
async fn rename_category(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(category_id): Path<i64>,
    Json(rename): Json<Rename>,
) -> Result<axum::Json<Category>, ApiError> {
    let category = expect_reply!(
        call(&state, &bearer, Request::RenameCategory { category_id, name: rename.name }).await?,
        Reply::Category
    );
    Ok(axum::Json(category))
}

/// Deletes a category; its channels stay, without a category (scope `admin`).
#[utoipa::path(delete, path = "/api/categories/{category_id}", security(("bearer" = [])),
    params(("category_id" = i64, Path, description = "The category")), responses((status = 204, description = "Deleted")))]
async fn delete_category(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(category_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::DeleteCategory { category_id }).await?)
}

/// Which page of history.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Older messages than this id (default: the newest page).
    before: Option<i64>,
    /// Newer messages than this id (not with `before`).
    after: Option<i64>,
    /// Messages per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// A page of a channel's history, oldest first (scope `read`).
#[utoipa::path(get, path = "/api/channels/{channel_id}/messages", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel"), HistoryQuery),
    responses((status = 200, body = HistoryPage)))]
async fn history(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
    Query(page): Query<HistoryQuery>,
) -> Result<axum::Json<HistoryPage>, ApiError> {
    let request = Request::History {
        channel_id: ChannelId(channel_id),
        before: page.before.map(MessageId),
        after: page.after.map(MessageId),
        limit: page.limit,
    };
    let page = expect_reply!(call(&state, &bearer, request).await?, Reply::History);
    Ok(axum::Json(page))
}

/// A message to send.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewMessage {
    /// 1 to 4000 characters, not only spaces (may be empty when `attachments` are given).
    #[serde(default)]
    #[schema(max_length = 4000)]
    body: String,
    /// An id of the caller's choosing (1 to 64 ASCII letters, digits, `-`, `_`): sending again
    /// with the same one answers the stored message instead of sending twice.
    #[serde(default)]
    client_id: Option<String>,
    /// Up to 10 file ids the token's user uploaded (`POST /api/channels/{channel_id}/files`).
    #[serde(default)]
    #[schema(max_items = 10)]
    attachments: Vec<i64>,
}

/// Sends a message as the token's user (scope `send`).
#[utoipa::path(post, path = "/api/channels/{channel_id}/messages", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel")), request_body = NewMessage,
    responses((status = 201, body = Message)))]
async fn send_message(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
    Json(new): Json<NewMessage>,
) -> Result<(StatusCode, axum::Json<Message>), ApiError> {
    let request = Request::SendMessage {
        channel_id: ChannelId(channel_id),
        body: new.body,
        client_id: new.client_id,
        attachments: new.attachments,
    };
    let message = expect_reply!(call(&state, &bearer, request).await?, Reply::Message);
    Ok((StatusCode::CREATED, axum::Json(message)))
}

/// Deletes a message: the token user's own, or any if they are an admin (scope `send`).
#[utoipa::path(delete, path = "/api/messages/{message_id}", security(("bearer" = [])),
    params(("message_id" = i64, Path, description = "The message")), responses((status = 204, description = "Deleted")))]
async fn delete_message(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(message_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::DeleteMessage { message_id: MessageId(message_id) }).await?)
}

/// Every invite, newest first (scope `admin`).
#[utoipa::path(get, path = "/api/invites", security(("bearer" = [])), responses((status = 200, body = Vec<InviteInfo>)))]
async fn list_invites(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<Vec<InviteInfo>>, ApiError> {
    let invites = expect_reply!(call(&state, &bearer, Request::ListInvites).await?, Reply::Invites);
    Ok(axum::Json(invites))
}

/// What a new invite allows; absent fields take their defaults.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewInvite {
    /// Accounts it can create, 1 to 100 (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    max_uses: Option<u32>,
    /// Seconds until it expires, 60 to 31622400 (default: never).
    #[serde(default)]
    #[schema(minimum = 60, maximum = 31622400)]
    expires_in_seconds: Option<u64>,
    /// The role of the accounts it creates (default `member`).
    #[serde(default)]
    role: Option<Role>,
    /// A note for the list, at most 100 characters.
    #[serde(default)]
    note: Option<String>,
    /// The host to put in its connection code (default: the server's own).
    #[serde(default)]
    host: Option<String>,
}

/// Makes an invite; its secret is in the answer, once (scope `admin`).
#[utoipa::path(post, path = "/api/invites", security(("bearer" = [])), request_body = NewInvite,
    responses((status = 201, body = CreatedInvite)))]
async fn create_invite(
    State(state): State<ApiState>,
    bearer: Bearer,
    Json(new): Json<NewInvite>,
) -> Result<(StatusCode, axum::Json<CreatedInvite>), ApiError> {
    let NewInvite { max_uses, expires_in_seconds, role, note, host } = new;
    let created = expect_reply!(
        call(&state, &bearer, Request::CreateInvite { max_uses, expires_in_seconds, role, note, host }).await?,
        Reply::InviteCreated
    );
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Makes an invite unusable (scope `admin`).
#[utoipa::path(delete, path = "/api/invites/{invite_id}", security(("bearer" = [])),
    params(("invite_id" = i64, Path, description = "The invite")), responses((status = 200, body = InviteInfo)))]
async fn revoke_invite(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(invite_id): Path<i64>,
) -> Result<axum::Json<InviteInfo>, ApiError> {
    let invite = expect_reply!(call(&state, &bearer, Request::RevokeInvite { invite_id }).await?, Reply::Invite);
    Ok(axum::Json(invite))
}

/// Every access token not revoked, newest first (scope `admin`).
#[utoipa::path(get, path = "/api/tokens", security(("bearer" = [])), responses((status = 200, body = Vec<TokenInfo>)))]
async fn list_tokens(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<Vec<TokenInfo>>, ApiError> {
    let tokens = expect_reply!(call(&state, &bearer, Request::ListTokens).await?, Reply::Tokens);
    Ok(axum::Json(tokens))
}

/// A new access token.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewToken {
    /// 1 to 64 printable characters.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// What it may do; at least one.
    #[schema(min_items = 1)]
    scopes: Vec<Scope>,
    /// Seconds until it expires, 60 to 31622400 (default: never).
    #[serde(default)]
    #[schema(minimum = 60, maximum = 31622400)]
    expires_in_seconds: Option<u64>,
}

/// Makes an access token acting as the token's user; its secret is in the answer, once
/// (scope `admin`).
#[utoipa::path(post, path = "/api/tokens", security(("bearer" = [])), request_body = NewToken,
    responses((status = 201, body = CreatedToken)))]
async fn create_token(
    State(state): State<ApiState>,
    bearer: Bearer,
    Json(new): Json<NewToken>,
) -> Result<(StatusCode, axum::Json<CreatedToken>), ApiError> {
    let request =
        Request::CreateToken { name: new.name, scopes: new.scopes, expires_in_seconds: new.expires_in_seconds };
    let created = expect_reply!(call(&state, &bearer, request).await?, Reply::TokenCreated);
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Revokes an access token at once (scope `admin`).
#[utoipa::path(delete, path = "/api/tokens/{token_id}", security(("bearer" = [])),
    params(("token_id" = i64, Path, description = "The token")), responses((status = 200, body = TokenInfo)))]
async fn revoke_token(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(token_id): Path<i64>,
) -> Result<axum::Json<TokenInfo>, ApiError> {
    let token = expect_reply!(call(&state, &bearer, Request::RevokeToken { token_id }).await?, Reply::Token);
    Ok(axum::Json(token))
}

/// The VPN's state and its peers: an admin's token sees every peer, a member's their own
/// (scope `read`).
#[utoipa::path(get, path = "/api/vpn/peers", security(("bearer" = [])), responses((status = 200, body = VpnStatus)))]
async fn vpn_peers(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<VpnStatus>, ApiError> {
    let status = expect_reply!(call(&state, &bearer, Request::VpnStatus).await?, Reply::VpnStatus);
    Ok(axum::Json(status))
}

/// Runs `channel_permissions` (or with `rule`, `set_channel_permissions`) on a channel or a
/// category.
async fn permissions(
    state: &ApiState,
    bearer: &Bearer,
    channel_id: Option<ChannelId>,
    category_id: Option<i64>,
    rule: Option<PermissionOverride>,
) -> Result<axum::Json<ChannelPermissions>, ApiError> {
    let request = match rule {
        None => Request::ChannelPermissions { channel_id, category_id },
        Some(PermissionOverride { role, view, send, speak, manage }) => {
            Request::SetChannelPermissions { channel_id, category_id, role, view, send, speak, manage }
        }
    };
    Ok(axum::Json(expect_reply!(call(state, bearer, request).await?, Reply::ChannelPermissions)))
}

/// A channel's permission overrides, one per role that has one (scope `admin`).
#[utoipa::path(get, path = "/api/channels/{channel_id}/permissions", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel")), responses((status = 200, body = ChannelPermissions)))]
async fn channel_permissions(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
) -> Result<axum::Json<ChannelPermissions>, ApiError> {
    permissions(&state, &bearer, Some(ChannelId(channel_id)), None, None).await
}

/// Sets one role's override on a channel; every flag `null` removes it (scope `admin`).
#[utoipa::path(put, path = "/api/channels/{channel_id}/permissions", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel")), request_body = PermissionOverride,
    responses((status = 200, body = ChannelPermissions)))]
async fn set_channel_permissions(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
    Json(rule): Json<PermissionOverride>,
) -> Result<axum::Json<ChannelPermissions>, ApiError> {
    permissions(&state, &bearer, Some(ChannelId(channel_id)), None, Some(rule)).await
}

/// A category's permission overrides, which its channels inherit (scope `admin`).
#[utoipa::path(get, path = "/api/categories/{category_id}/permissions", security(("bearer" = [])),
    params(("category_id" = i64, Path, description = "The category")),
    responses((status = 200, body = ChannelPermissions)))]
async fn category_permissions(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(category_id): Path<i64>,
) -> Result<axum::Json<ChannelPermissions>, ApiError> {
    permissions(&state, &bearer, None, Some(category_id), None).await
}

/// Sets one role's override on a category; every flag `null` removes it (scope `admin`).
#[utoipa::path(put, path = "/api/categories/{category_id}/permissions", security(("bearer" = [])),
    params(("category_id" = i64, Path, description = "The category")), request_body = PermissionOverride,
    responses((status = 200, body = ChannelPermissions)))]
async fn set_category_permissions(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(category_id): Path<i64>,
    Json(rule): Json<PermissionOverride>,
) -> Result<axum::Json<ChannelPermissions>, ApiError> {
    permissions(&state, &bearer, None, Some(category_id), Some(rule)).await
}

/// Why, shown to the member (kick, deny).
#[derive(Deserialize, utoipa::ToSchema)]
struct Reason {
    /// At most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// Ends every connection of a member who is online; they may come back (scope `moderate`).
#[utoipa::path(post, path = "/api/users/{username}/kick", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")), request_body = Reason,
    responses((status = 204, description = "Kicked")))]
async fn kick(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(why): Json<Reason>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::Kick { username, reason: why.reason }).await?)
}

/// How long a timeout lasts, and why.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewTimeout {
    /// 1 to 2419200 (28 days); 0 lifts a timeout.
    #[schema(minimum = 0, maximum = 2419200)]
    duration_seconds: u64,
    /// At most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// Times a member out: they cannot send or speak until it ends (scope `moderate`).
#[utoipa::path(post, path = "/api/users/{username}/timeout", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")), request_body = NewTimeout,
    responses((status = 204, description = "Timed out (or the timeout lifted)")))]
async fn timeout(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(new): Json<NewTimeout>,
) -> Result<StatusCode, ApiError> {
    let request = Request::Timeout { username, duration_seconds: new.duration_seconds, reason: new.reason };
    no_content(call(&state, &bearer, request).await?)
}

/// A warning.
#[derive(Deserialize, utoipa::ToSchema)]
struct Warning {
    /// 1 to 500 characters, shown to the member and kept in their moderation history.
    #[schema(min_length = 1, max_length = 500)]
    note: String,
}

/// Warns a member (scope `moderate`).
#[utoipa::path(post, path = "/api/users/{username}/warnings", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")), request_body = Warning,
    responses((status = 204, description = "Warned")))]
async fn warn(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(warning): Json<Warning>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::Warn { username, note: warning.note }).await?)
}

/// A member's moderation history: at most 100 audit entries about them, newest first (scope
/// `moderate`).
#[utoipa::path(get, path = "/api/users/{username}/moderation", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")), responses((status = 200, body = Vec<AuditEntry>)))]
async fn moderation_history(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
) -> Result<axum::Json<Vec<AuditEntry>>, ApiError> {
    let history =
        expect_reply!(call(&state, &bearer, Request::ModerationHistory { username }).await?, Reply::ModerationHistory);
    Ok(axum::Json(history))
}

/// A temporary password.
#[derive(Deserialize, utoipa::ToSchema)]
struct PasswordReset {
    /// 8 to 1024 characters; the member must choose a new one at the next login.
    #[schema(min_length = 8, max_length = 1024)]
    temporary_password: String,
}

/// Sets a temporary password for a member and ends their sessions (scope `admin`).
#[utoipa::path(post, path = "/api/users/{username}/password-reset", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")), request_body = PasswordReset,
    responses((status = 204, description = "Reset")))]
async fn reset_password(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(reset): Json<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    let request = Request::ResetPassword { username, temporary_password: reset.temporary_password };
    no_content(call(&state, &bearer, request).await?)
}

/// The bans in force, newest first (scope `admin`).
#[utoipa::path(get, path = "/api/bans", security(("bearer" = [])), responses((status = 200, body = Vec<BanInfo>)))]
async fn list_bans(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<Vec<BanInfo>>, ApiError> {
    Ok(axum::Json(expect_reply!(call(&state, &bearer, Request::ListBans).await?, Reply::Bans)))
}

/// Bans an account, an address, or both; their live connections end at once (scope `admin`).
/// With several addresses one ban is made per address; the answer is the first.
#[utoipa::path(post, path = "/api/bans", security(("bearer" = [])), request_body = BanSpec,
    responses((status = 201, body = BanInfo)))]
async fn ban(
    State(state): State<ApiState>,
    bearer: Bearer,
    Json(spec): Json<BanSpec>,
) -> Result<(StatusCode, axum::Json<BanInfo>), ApiError> {
    let ban = expect_reply!(call(&state, &bearer, Request::Ban(spec)).await?, Reply::Ban);
    Ok((StatusCode::CREATED, axum::Json(ban)))
}

/// Lifts a ban; the answer is the ban it was (scope `admin`).
#[utoipa::path(delete, path = "/api/bans/{ban_id}", security(("bearer" = [])),
    params(("ban_id" = i64, Path, description = "The ban")), responses((status = 200, body = BanInfo)))]
async fn unban(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(ban_id): Path<i64>,
) -> Result<axum::Json<BanInfo>, ApiError> {
    Ok(axum::Json(expect_reply!(call(&state, &bearer, Request::Unban { ban_id }).await?, Reply::Ban)))
}

/// A slow mode.
#[derive(Deserialize, utoipa::ToSchema)]
struct SlowMode {
    /// Seconds between two messages of a member, 0 (off) to 21600.
    #[schema(minimum = 0, maximum = 21600)]
    seconds: u32,
}

/// Sets a channel's slow mode; the answer is the channel (scope `moderate`).
#[utoipa::path(put, path = "/api/channels/{channel_id}/slow-mode", security(("bearer" = [])),
    params(("channel_id" = i64, Path, description = "The channel")), request_body = SlowMode,
    responses((status = 200, body = Channel)))]
async fn set_slow_mode(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(channel_id): Path<i64>,
    Json(slow): Json<SlowMode>,
) -> Result<axum::Json<Channel>, ApiError> {
    let request = Request::SetSlowMode { channel_id: ChannelId(channel_id), seconds: slow.seconds };
    Ok(axum::Json(expect_reply!(call(&state, &bearer, request).await?, Reply::Channel)))
}

/// Which page of the audit log.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Older entries than this id (default: the newest page).
    before: Option<i64>,
    /// Entries per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// A page of the audit log, newest first (scope `admin`).
#[utoipa::path(get, path = "/api/audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
async fn audit_log(
    State(state): State<ApiState>,
    bearer: Bearer,
    Query(page): Query<AuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let request = Request::AuditLog { before: page.before, limit: page.limit };
    Ok(axum::Json(expect_reply!(call(&state, &bearer, request).await?, Reply::Audit)))
}

/// Every automatic moderation keyword, oldest first (scope `admin`).
#[utoipa::path(get, path = "/api/filters", security(("bearer" = [])), responses((status = 200, body = Vec<KeywordFilter>)))]
async fn list_filters(
    State(state): State<ApiState>,
    bearer: Bearer,
) -> Result<axum::Json<Vec<KeywordFilter>>, ApiError> {
    Ok(axum::Json(expect_reply!(call(&state, &bearer, Request::ListFilters).await?, Reply::Filters)))
}

/// A new keyword.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewFilter {
    /// A word or phrase, 1 to 64 printable characters, matched as whole words in any case.
    #[schema(min_length = 1, max_length = 64)]
    word: String,
    /// Also time the sender out for this long, 1 to 2419200 (default: only stop the message).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2419200)]
    timeout_seconds: Option<u64>,
}

/// Adds an automatic moderation keyword (scope `admin`).
#[utoipa::path(post, path = "/api/filters", security(("bearer" = [])), request_body = NewFilter,
    responses((status = 201, body = KeywordFilter)))]
async fn add_filter(
    State(state): State<ApiState>,
    bearer: Bearer,
    Json(new): Json<NewFilter>,
) -> Result<(StatusCode, axum::Json<KeywordFilter>), ApiError> {
    let request = Request::AddFilter { word: new.word, timeout_seconds: new.timeout_seconds };
    let filter = expect_reply!(call(&state, &bearer, request).await?, Reply::Filter);
    Ok((StatusCode::CREATED, axum::Json(filter)))
}

/// Removes a keyword (scope `admin`).
#[utoipa::path(delete, path = "/api/filters/{filter_id}", security(("bearer" = [])),
    params(("filter_id" = i64, Path, description = "The keyword")), responses((status = 204, description = "Removed")))]
async fn remove_filter(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(filter_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::RemoveFilter { filter_id }).await?)
}

/// Registrations waiting for approval, oldest first (scope `admin`).
#[utoipa::path(get, path = "/api/approvals", security(("bearer" = [])),
    responses((status = 200, body = Vec<PendingRegistration>)))]
async fn list_approvals(
    State(state): State<ApiState>,
    bearer: Bearer,
) -> Result<axum::Json<Vec<PendingRegistration>>, ApiError> {
    Ok(axum::Json(expect_reply!(call(&state, &bearer, Request::ListApprovals).await?, Reply::Approvals)))
}

/// Lets a waiting registration in (scope `admin`).
#[utoipa::path(post, path = "/api/approvals/{username}/approve", security(("bearer" = [])),
    params(("username" = String, Path, description = "The user name waiting")),
    responses((status = 204, description = "Approved")))]
async fn approve(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::Approve { username }).await?)
}

/// Refuses a waiting registration; it is discarded and the name is free again (scope `admin`).
#[utoipa::path(post, path = "/api/approvals/{username}/deny", security(("bearer" = [])),
    params(("username" = String, Path, description = "The user name waiting")), request_body = Reason,
    responses((status = 204, description = "Denied")))]
async fn deny(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(why): Json<Reason>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::Deny { username, reason: why.reason }).await?)
}

// Supervised members.

/// A supervised member's guardian, contacts and quiet hours (scope `read`: the token's own
/// user, or, for their guardian or an admin, a supervised member).
#[utoipa::path(get, path = "/api/users/{username}/supervision", security(("bearer" = [])),
    params(("username" = String, Path, description = "The supervised member")),
    responses((status = 200, body = SupervisionInfo)))]
async fn supervision(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
) -> Result<axum::Json<SupervisionInfo>, ApiError> {
    let request = Request::Supervision { username: Some(username) };
    Ok(axum::Json(expect_reply!(call(&state, &bearer, request).await?, Reply::Supervision)))
}

/// A supervised member's guardian.
#[derive(Deserialize, utoipa::ToSchema)]
struct Guardian {
    /// The guardian's user name: an admin, or a member the admin trusts.
    guardian: String,
}

/// Marks a member as supervised by a guardian, or moves their supervision to another guardian
/// (scope `admin`).
#[utoipa::path(put, path = "/api/users/{username}/supervision", security(("bearer" = [])),
    params(("username" = String, Path, description = "The member")), request_body = Guardian,
    responses((status = 200, body = SupervisionInfo)))]
async fn supervise(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(guardian): Json<Guardian>,
) -> Result<axum::Json<SupervisionInfo>, ApiError> {
    let request = Request::Supervise { username, guardian: guardian.guardian };
    Ok(axum::Json(expect_reply!(call(&state, &bearer, request).await?, Reply::Supervision)))
}

/// Ends a member's supervision (scope `admin`).
#[utoipa::path(delete, path = "/api/users/{username}/supervision", security(("bearer" = [])),
    params(("username" = String, Path, description = "The supervised member")),
    responses((status = 204, description = "No longer supervised")))]
async fn unsupervise(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    no_content(call(&state, &bearer, Request::Unsupervise { username }).await?)
}

async fn set_contact(
    state: &ApiState,
    bearer: &Bearer,
    username: String,
    contact: String,
    allowed: bool,
) -> Result<axum::Json<SupervisionInfo>, ApiError> {
    let request = Request::AllowContact { username, contact, allowed };
    Ok(axum::Json(expect_reply!(call(state, bearer, request).await?, Reply::Supervision)))
}

/// Lets a supervised member open and write direct conversations with `contact` (scope `admin`).
#[utoipa::path(put, path = "/api/users/{username}/supervision/contacts/{contact}", security(("bearer" = [])),
    params(("username" = String, Path, description = "The supervised member"),
        ("contact" = String, Path, description = "The member they may write to")),
    responses((status = 200, body = SupervisionInfo)))]
async fn allow_contact(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path((username, contact)): Path<(String, String)>,
) -> Result<axum::Json<SupervisionInfo>, ApiError> {
    set_contact(&state, &bearer, username, contact, true).await
}

/// Stops allowing a supervised member's direct conversations with `contact` (scope `admin`).
#[utoipa::path(delete, path = "/api/users/{username}/supervision/contacts/{contact}", security(("bearer" = [])),
    params(("username" = String, Path, description = "The supervised member"),
        ("contact" = String, Path, description = "The member they may no longer write to")),
    responses((status = 200, body = SupervisionInfo)))]
async fn disallow_contact(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path((username, contact)): Path<(String, String)>,
) -> Result<axum::Json<SupervisionInfo>, ApiError> {
    set_contact(&state, &bearer, username, contact, false).await
}

/// Sets a supervised member's quiet hours, minutes of the day in UTC (scope `admin`).
#[utoipa::path(put, path = "/api/users/{username}/supervision/quiet-hours", security(("bearer" = [])),
    params(("username" = String, Path, description = "The supervised member")), request_body = QuietHours,
    responses((status = 200, body = SupervisionInfo)))]
async fn set_quiet_hours(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
    Json(hours): Json<QuietHours>,
) -> Result<axum::Json<SupervisionInfo>, ApiError> {
    let request =
        Request::SetQuietHours { username, start_minute: Some(hours.start_minute), end_minute: Some(hours.end_minute) };
    Ok(axum::Json(expect_reply!(call(&state, &bearer, request).await?, Reply::Supervision)))
}

/// Clears a supervised member's quiet hours (scope `admin`).
#[utoipa::path(delete, path = "/api/users/{username}/supervision/quiet-hours", security(("bearer" = [])),
    params(("username" = String, Path, description = "The supervised member")),
    responses((status = 200, body = SupervisionInfo)))]
async fn clear_quiet_hours(
    State(state): State<ApiState>,
    bearer: Bearer,
    Path(username): Path<String>,
) -> Result<axum::Json<SupervisionInfo>, ApiError> {
    let request = Request::SetQuietHours { username, start_minute: None, end_minute: None };
    Ok(axum::Json(expect_reply!(call(&state, &bearer, request).await?, Reply::Supervision)))
}

// Backups.

/// The backup archives in the server's backup folder, oldest first (scope `admin`).
#[utoipa::path(get, path = "/api/backups", security(("bearer" = [])),
    responses((status = 200, body = Vec<BackupInfo>)))]
async fn list_backups(State(state): State<ApiState>, bearer: Bearer) -> Result<axum::Json<Vec<BackupInfo>>, ApiError> {
    Ok(axum::Json(expect_reply!(call(&state, &bearer, Request::ListBackups).await?, Reply::Backups)))
}

/// Takes a backup now and answers once it is written and verified (after a backup already
/// under way, if any); `backup.retention_days` then prunes old ones (scope `admin`).
#[utoipa::path(post, path = "/api/backups", security(("bearer" = [])),
    responses((status = 201, body = BackupInfo)))]
async fn start_backup(
    State(state): State<ApiState>,
    bearer: Bearer,
) -> Result<(StatusCode, axum::Json<BackupInfo>), ApiError> {
    let backup = expect_reply!(call(&state, &bearer, Request::StartBackup).await?, Reply::Backup);
    Ok((StatusCode::CREATED, axum::Json(backup)))
}
