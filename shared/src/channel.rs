//! The channels messages arrive on and the networks behind them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    XDm,
    XPublic,
    InstagramDm,
    InstagramComment,
    FacebookMessenger,
    FacebookComment,
    Whatsapp,
    Email,
    Sms,
    Webchat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    X,
    Instagram,
    Facebook,
    Whatsapp,
    Email,
    Sms,
    Webchat,
}

impl Channel {
    pub const ALL: [Channel; 10] = [
        Channel::XDm,
        Channel::XPublic,
        Channel::InstagramDm,
        Channel::InstagramComment,
        Channel::FacebookMessenger,
        Channel::FacebookComment,
        Channel::Whatsapp,
        Channel::Email,
        Channel::Sms,
        Channel::Webchat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::XDm => "x_dm",
            Channel::XPublic => "x_public",
            Channel::InstagramDm => "instagram_dm",
            Channel::InstagramComment => "instagram_comment",
            Channel::FacebookMessenger => "facebook_messenger",
            Channel::FacebookComment => "facebook_comment",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Webchat => "webchat",
        }
    }

    /// What an identity claim is scoped by: the network where user ids are global to it
    /// (X, Instagram), the channel otherwise.
    pub fn identity_scope(self) -> &'static str {
        let network = self.network();
        if network.has_global_user_ids() {
            network.as_str()
        } else {
            self.as_str()
        }
    }

    pub fn network(self) -> Network {
        match self {
            Channel::XDm | Channel::XPublic => Network::X,
            Channel::InstagramDm | Channel::InstagramComment => Network::Instagram,
            Channel::FacebookMessenger | Channel::FacebookComment => Network::Facebook,
            Channel::Whatsapp => Network::Whatsapp,
            Channel::Email => Network::Email,
            Channel::Sms => Network::Sms,
            Channel::Webchat => Network::Webchat,
        }
    }
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::X => "x",
            Network::Instagram => "instagram",
            Network::Facebook => "facebook",
            Network::Whatsapp => "whatsapp",
            Network::Email => "email",
            Network::Sms => "sms",
            Network::Webchat => "webchat",
        }
    }

    /// X and Instagram identify a person by one user id across all their channels.
    pub fn has_global_user_ids(self) -> bool {
        matches!(self, Network::X | Network::Instagram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for c in Channel::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(
                serde_json::to_value(c.network()).unwrap(),
                c.network().as_str()
            );
        }
        assert_eq!(Channel::XPublic.identity_scope(), "x");
        assert_eq!(Channel::Sms.identity_scope(), "sms");
    }

    #[test]
    fn only_x_and_instagram_match_by_network_user_id() {
        assert!(Channel::XPublic.network().has_global_user_ids());
        assert!(Channel::InstagramComment.network().has_global_user_ids());
        assert!(!Channel::FacebookMessenger.network().has_global_user_ids());
        assert!(!Channel::Whatsapp.network().has_global_user_ids());
    }
}
