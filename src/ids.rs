//! Typed ids: `UserId`, `ChannelId`, `MessageId` (store row ids) and `SessionId` (a media
//! session, the `source` of media packets), so that one kind of id cannot be passed where
//! another is expected. On the wire they are plain JSON numbers (`serde(transparent)`); the
//! store converts them at its SQL edge through `.get()`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Defines one id newtype over an integer with the traits every id shares.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// The number inside, for storage and arithmetic.
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl From<$inner> for $name {
            fn from(value: $inner) -> $name {
                $name(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An account's id.
    UserId(i64)
);
id_type!(
    /// A channel's id (text, voice or direct).
    ChannelId(i64)
);
id_type!(
    /// A chat message's id; increases with time.
    MessageId(i64)
);
id_type!(
    /// A media session's id, in every media packet header.
    SessionId(u32)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_numbers_on_the_wire() {
        assert_eq!(serde_json::to_string(&UserId(7)).ok().as_deref(), Some("7"));
        assert_eq!(serde_json::from_str::<ChannelId>("-3").ok(), Some(ChannelId(-3)));
        assert_eq!(serde_json::from_str::<SessionId>("4294967295").ok(), Some(SessionId(u32::MAX)));
        assert!(serde_json::from_str::<SessionId>("-1").is_err());
        assert_eq!(MessageId(42).to_string(), "42");
    }
}
