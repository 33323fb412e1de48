//! The VPN's rows: its server key, the server-wide cap an admin set, and one peer per member's
//! device with its address and own cap.

use super::{Store, StoreError};
use crate::ids::UserId;
use rusqlite::{params, Connection, OptionalExtension};

/// A VPN peer: a member's device with a WireGuard public key and a tunnel address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnPeerRecord {
    /// Row id.
    pub id: i64,
    /// The member it belongs to.
    pub user_id: UserId,
    /// The member's name.
    pub username: String,
    /// The device's label (e.g. "phone", "itc").
    pub name: String,
    /// Its WireGuard public key (the private key is never stored).
    pub public_key: [u8; 32],
    /// Its tunnel address.
    pub address: std::net::Ipv4Addr,
    /// Its own cap in kbit/s each way; `None` follows the server-wide cap.
    pub max_bandwidth_kbps: Option<u32>,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl Store {
    /// The VPN's private key: the stored one, or `candidate` stored now if there is none.
    pub(crate) async fn vpn_server_key(&self, candidate: [u8; 32]) -> Result<[u8; 32], StoreError> {
        self.write(move |conn| {
            conn.execute("INSERT OR IGNORE INTO vpn_server (id, private_key) VALUES (1, ?1)", [candidate.to_vec()])?;
            let key: Vec<u8> =
                conn.query_row("SELECT private_key FROM vpn_server WHERE id = 1", [], |row| row.get(0))?;
            key.try_into().map_err(|_| StoreError::Database("the stored VPN key is damaged".into()))
        })
        .await
    }

    /// The server-wide VPN cap an admin set (kbit/s), if any.
    pub(crate) async fn vpn_global_limit(&self) -> Result<Option<u32>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT max_bandwidth_kbps FROM vpn_server WHERE id = 1", [], |row| row.get(0))
                .optional()?
                .flatten())
        })
        .await
    }

    /// Sets (or with `None` clears) the server-wide VPN cap; the server key must exist.
    pub(crate) async fn set_vpn_global_limit(&self, kbps: Option<u32>) -> Result<(), StoreError> {
        self.write(move |conn| {
            match conn.execute("UPDATE vpn_server SET max_bandwidth_kbps = ?1 WHERE id = 1", [kbps])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Every VPN peer, oldest first.
    pub async fn list_vpn_peers(&self) -> Result<Vec<VpnPeerRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{VPN_PEER_SELECT} ORDER BY p.id"))?;
            let rows = stmt.query_map([], vpn_peer_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.into_iter().flatten().collect())
        })
        .await
    }

    /// Gives `user_id`'s device `name` the WireGuard key `public_key`: a new peer with the
    /// lowest free address of `subnet`, or, if the device already has one, its new key (same
    /// address, same cap).
    pub(crate) async fn put_vpn_peer(
        &self,
        user_id: UserId,
        name: String,
        public_key: [u8; 32],
        subnet: crate::subnet::Subnet,
        now: i64,
    ) -> Result<VpnPeerRecord, StoreError> {
        self.write(move |conn| {
            let existing: Option<i64> = conn
                .query_row("SELECT id FROM vpn_peers WHERE user_id = ?1 AND name = ?2", params![user_id, name], |row| {
                    row.get(0)
                })
                .optional()?;
            let written = match existing {
                Some(id) => conn
                    .execute("UPDATE vpn_peers SET public_key = ?1 WHERE id = ?2", params![public_key.to_vec(), id])
                    .map(|_| id),
                None => {
                    let mut stmt = conn.prepare("SELECT address FROM vpn_peers")?;
                    let taken: Vec<std::net::Ipv4Addr> = stmt
                        .query_map([], |row| row.get::<_, String>(0))?
                        .filter_map(|address| address.ok()?.parse().ok())
                        .collect();
                    let address = subnet.first_free(&taken).ok_or(StoreError::VpnAddressesUsedUp)?;
                    conn.execute(
                        "INSERT INTO vpn_peers (user_id, name, public_key, address, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![user_id, name, public_key.to_vec(), address.to_string(), now],
                    )
                    .map(|_| conn.last_insert_rowid())
                }
            };
            let id = match written {
                Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(StoreError::VpnKeyTaken)
                }
                other => other?,
            };
            load_vpn_peer(conn, id)
        })
        .await
    }

    /// Removes a VPN peer; returns what it was.
    pub async fn delete_vpn_peer(&self, peer_id: i64) -> Result<VpnPeerRecord, StoreError> {
        self.write(move |conn| {
            let peer = load_vpn_peer(conn, peer_id)?;
            conn.execute("DELETE FROM vpn_peers WHERE id = ?1", [peer_id])?;
            Ok(peer)
        })
        .await
    }

    /// Sets (or with `None` clears) one peer's own cap.
    pub(crate) async fn set_vpn_peer_limit(
        &self,
        peer_id: i64,
        kbps: Option<u32>,
    ) -> Result<VpnPeerRecord, StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE vpn_peers SET max_bandwidth_kbps = ?1 WHERE id = ?2", params![kbps, peer_id])?;
            load_vpn_peer(conn, peer_id)
        })
        .await
    }
}
const VPN_PEER_SELECT: &str = "SELECT p.id, p.user_id, u.username, p.name, p.public_key, p.address,
     p.max_bandwidth_kbps, p.created_at FROM vpn_peers p JOIN users u ON u.id = p.user_id";

/// A peer row; `None` for a row whose key or address is damaged (it is skipped, not served).
fn vpn_peer_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<VpnPeerRecord>> {
    let key: Vec<u8> = row.get(4)?;
    let address: String = row.get(5)?;
    let (Ok(public_key), Ok(address)) = (<[u8; 32]>::try_from(key), address.parse()) else {
        return Ok(None);
    };
    Ok(Some(VpnPeerRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        username: row.get(2)?,
        name: row.get(3)?,
        public_key,
        address,
        max_bandwidth_kbps: row.get(6)?,
        created_at: row.get(7)?,
    }))
}

fn load_vpn_peer(conn: &Connection, peer_id: i64) -> Result<VpnPeerRecord, StoreError> {
    conn.query_row(&format!("{VPN_PEER_SELECT} WHERE p.id = ?1"), [peer_id], vpn_peer_row)
        .optional()?
        .flatten()
        .ok_or(StoreError::NotFound)
}
