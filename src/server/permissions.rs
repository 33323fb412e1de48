//! Who may do what: [`decide`], the one pure function every permission question of the server
//! goes through (the actor's role, the target's role, the channel's overrides, the action).
//! No I/O and no clock: the handlers look the roles and overrides up and ask.
//!
//! The rules:
//! - The owner and admins may do everything in every channel; channel overrides never bind them.
//! - Channel actions (view, send, speak, manage) of moderators and members follow the channel's
//!   override for their role, else its category's, else the default: view, send and speak
//!   allowed; manage allowed for moderators only.
//! - Moderation (kick, timeout, warn, reading someone's history, voice mute and move) needs a
//!   moderator or higher; bans, password resets, roles and everything server-wide need an admin.
//! - An action on another person needs a role strictly above theirs: nobody acts on the owner,
//!   admins do not act on admins. Nobody is made owner.
//! - Supervision: admins mark members supervised and name their guardian; the guardian or an
//!   admin looks after a supervised member (contacts, quiet hours, moderation history, ending
//!   it). A direct conversation that involves a supervised member needs their guardian's
//!   consent ([`Contact`]), whoever asks, admins included; nobody sends during their quiet hours.

use crate::proto::{PermissionOverride, Role};

/// What someone wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See a channel, its history and its events.
    View,
    /// Send messages in a channel.
    Send,
    /// Speak (and share video or screen) in a voice channel.
    Speak,
    /// Manage one channel: slow mode, deleting others' messages.
    Manage,
    /// Kick someone off the server.
    Kick,
    /// Time someone out.
    Timeout,
    /// Warn someone.
    Warn,
    /// Read someone's moderation history.
    ReadHistory,
    /// Server-mute someone or move them between voice channels.
    VoiceModerate,
    /// Ban someone (or an address), or lift a ban.
    Ban,
    /// Set someone's password for them.
    ResetPassword,
    /// Give someone this role.
    AssignRole(Role),
    /// Anything else server-wide: channels, categories, overrides, invites, the VPN, keyword
    /// filters, approvals, the audit log.
    Administer,
    /// Mark a member supervised and name (or change) their guardian.
    Supervise,
    /// Look after a supervised member: their contacts and quiet hours, their moderation
    /// history, ending their supervision. `guardian`: the actor is their guardian.
    Guard {
        /// Whether the actor is the supervised member's guardian.
        guardian: bool,
    },
    /// Open or write in a direct conversation, as supervision sees it.
    Direct(Contact),
    /// Send a message while one's quiet hours are on.
    SendInQuietHours,
}

/// What supervision makes of a direct conversation between two members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// Neither is supervised.
    Unsupervised,
    /// Each supervised side's guardian allows the other (or is the other).
    Allowed,
    /// A supervised side's guardian does not allow the other.
    NotAllowed,
}

/// The overrides that apply to one channel: its category's and its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelRules {
    /// The channel's category's overrides.
    pub category: Vec<PermissionOverride>,
    /// The channel's own overrides (they win over the category's).
    pub channel: Vec<PermissionOverride>,
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The actor's role is too low for the action.
    #[error("your role does not allow this")]
    Role,
    /// The target's role is as high as the actor's or higher.
    #[error("you cannot do this to someone whose role is as high as yours or higher")]
    Outranked,
    /// The channel's overrides forbid it.
    #[error("this channel's permissions do not allow it")]
    Channel,
    /// Nobody is made owner.
    #[error("a server has one owner; nobody else can be made owner")]
    OneOwner,
    /// A supervised member's guardian has not allowed this conversation.
    #[error("a supervised member writes only to the contacts their guardian allows")]
    Supervised,
    /// The sender's quiet hours are on.
    #[error("quiet hours are on; sending waits until they end")]
    QuietHours,
    /// Only supervised members' guardians and admins look after them.
    #[error("only this member's guardian or an admin can do this")]
    NotGuardian,
}

/// Whether `actor` may do `action` (to someone of role `target`, in a channel with `rules`).
pub fn decide(actor: Role, action: Action, target: Option<Role>, rules: &ChannelRules) -> Result<(), Denied> {
    if let Some(target) = target {
        if target.rank() >= actor.rank() {
            return Err(Denied::Outranked);
        }
    }
    let lowest = match action {
        Action::View | Action::Send | Action::Speak | Action::Manage => {
            return if actor.is_admin() || channel_allows(actor, action, rules) {
                Ok(())
            } else {
                Err(Denied::Channel)
            };
        }
        Action::Kick | Action::Timeout | Action::Warn | Action::ReadHistory | Action::VoiceModerate => Role::Moderator,
        Action::AssignRole(Role::Owner) => return Err(Denied::OneOwner),
        Action::Guard { guardian } => {
            return if guardian || actor.is_admin() { Ok(()) } else { Err(Denied::NotGuardian) };
        }
        Action::Direct(Contact::NotAllowed) => return Err(Denied::Supervised),
        Action::Direct(_) => return Ok(()),
        Action::SendInQuietHours => return Err(Denied::QuietHours),
        Action::Ban | Action::ResetPassword | Action::AssignRole(_) | Action::Administer | Action::Supervise => {
            Role::Admin
        }
    };
    if actor.rank() < lowest.rank() {
        return Err(Denied::Role);
    }
    match action {
        Action::AssignRole(role) if role.rank() > actor.rank() => Err(Denied::Role),
        _ => Ok(()),
    }
}

/// A moderator's or member's channel action: the channel's override, else the category's,
/// else the default.
fn channel_allows(actor: Role, action: Action, rules: &ChannelRules) -> bool {
    let flag = |overrides: &[PermissionOverride]| {
        overrides.iter().find(|o| o.role == actor).and_then(|o| match action {
            Action::View => o.view,
            Action::Send => o.send,
            Action::Speak => o.speak,
            _ => o.manage,
        })
    };
    let default = action != Action::Manage || actor.rank() >= Role::Moderator.rank();
    let allowed = flag(&rules.channel).or_else(|| flag(&rules.category)).unwrap_or(default);
    // Sending or speaking where one cannot see makes no sense: view gates the rest.
    if action != Action::View && !channel_allows(actor, Action::View, rules) {
        return false;
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Member, Moderator, Owner};

    fn rule(role: Role, view: Option<bool>, send: Option<bool>) -> PermissionOverride {
        PermissionOverride { role, view, send, speak: None, manage: None }
    }

    /// (actor, action, target, expected)
    type Case = (Role, Action, Option<Role>, Result<(), Denied>);

    #[test]
    fn server_wide_actions_by_role_and_target() {
        let none = ChannelRules::default();
        let ok = Ok(());
        let table: &[Case] = &[
            (Member, Action::Kick, Some(Member), Err(Denied::Outranked)),
            (Member, Action::Administer, None, Err(Denied::Role)),
            (Member, Action::Warn, None, Err(Denied::Role)),
            (Moderator, Action::Kick, Some(Member), ok),
            (Moderator, Action::Timeout, Some(Member), ok),
            (Moderator, Action::Warn, Some(Member), ok),
            (Moderator, Action::ReadHistory, Some(Member), ok),
            (Moderator, Action::VoiceModerate, Some(Member), ok),
            (Moderator, Action::Kick, Some(Moderator), Err(Denied::Outranked)),
            (Moderator, Action::Timeout, Some(Admin), Err(Denied::Outranked)),
            (Moderator, Action::Ban, Some(Member), Err(Denied::Role)),
            (Moderator, Action::ResetPassword, Some(Member), Err(Denied::Role)),
            (Moderator, Action::AssignRole(Member), Some(Member), Err(Denied::Role)),
            (Moderator, Action::Administer, None, Err(Denied::Role)),
            (Admin, Action::Ban, Some(Moderator), ok),
            (Admin, Action::Ban, Some(Admin), Err(Denied::Outranked)),
            (Admin, Action::Kick, Some(Owner), Err(Denied::Outranked)),
            (Admin, Action::AssignRole(Admin), Some(Member), ok),
            (Admin, Action::AssignRole(Member), Some(Admin), Err(Denied::Outranked)),
            (Admin, Action::AssignRole(Member), Some(Owner), Err(Denied::Outranked)),
            (Admin, Action::AssignRole(Owner), Some(Member), Err(Denied::OneOwner)),
            (Admin, Action::Administer, None, ok),
            (Owner, Action::AssignRole(Member), Some(Admin), ok),
            (Owner, Action::Ban, Some(Admin), ok),
            (Owner, Action::AssignRole(Owner), Some(Admin), Err(Denied::OneOwner)),
            (Owner, Action::Kick, Some(Owner), Err(Denied::Outranked)),
            (Admin, Action::Supervise, Some(Member), ok),
            (Owner, Action::Supervise, Some(Member), ok),
            (Admin, Action::Supervise, Some(Admin), Err(Denied::Outranked)),
            (Moderator, Action::Supervise, Some(Member), Err(Denied::Role)),
            (Member, Action::Supervise, Some(Member), Err(Denied::Outranked)),
            (Member, Action::Supervise, None, Err(Denied::Role)),
            (Member, Action::Guard { guardian: true }, None, ok),
            (Member, Action::Guard { guardian: false }, None, Err(Denied::NotGuardian)),
            (Moderator, Action::Guard { guardian: false }, None, Err(Denied::NotGuardian)),
            (Moderator, Action::Guard { guardian: true }, None, ok),
            (Admin, Action::Guard { guardian: false }, None, ok),
            (Owner, Action::Guard { guardian: false }, None, ok),
            (Member, Action::Direct(Contact::Unsupervised), None, ok),
            (Member, Action::Direct(Contact::Allowed), None, ok),
            (Member, Action::Direct(Contact::NotAllowed), None, Err(Denied::Supervised)),
            (Admin, Action::Direct(Contact::NotAllowed), None, Err(Denied::Supervised)),
            (Owner, Action::Direct(Contact::NotAllowed), None, Err(Denied::Supervised)),
            (Member, Action::SendInQuietHours, None, Err(Denied::QuietHours)),
        ];
        for (actor, action, target, expected) in table {
            assert_eq!(decide(*actor, *action, *target, &none), *expected, "{actor:?} {action:?} {target:?}");
        }
    }

    #[test]
    fn channel_actions_follow_channel_then_category_then_default() {
        let private = ChannelRules {
            category: vec![rule(Member, Some(false), None), rule(Moderator, Some(false), None)],
            channel: vec![rule(Moderator, Some(true), None)],
        };
        let read_only = ChannelRules { category: vec![], channel: vec![rule(Member, None, Some(false))] };
        let none = ChannelRules::default();
        let table: &[(Role, Action, &ChannelRules, bool)] = &[
            (Member, Action::View, &none, true),
            (Member, Action::Send, &none, true),
            (Member, Action::Speak, &none, true),
            (Member, Action::Manage, &none, false),
            (Moderator, Action::Manage, &none, true),
            (Member, Action::View, &private, false),
            (Member, Action::Send, &private, false),
            (Moderator, Action::View, &private, true),
            (Moderator, Action::Send, &private, true),
            (Admin, Action::View, &private, true),
            (Owner, Action::Send, &private, true),
            (Member, Action::View, &read_only, true),
            (Member, Action::Send, &read_only, false),
            (Member, Action::Speak, &read_only, true),
            (Moderator, Action::Send, &read_only, true),
        ];
        for (actor, action, rules, allowed) in table {
            assert_eq!(decide(*actor, *action, None, rules).is_ok(), *allowed, "{actor:?} {action:?} {rules:?}");
        }
    }
}
