//! The platform attributes: what each network tells about a sender, filled by the channel.

use super::AttrType;
use crate::channel::Channel;

#[derive(Debug)]
pub struct PlatformAttribute {
    pub key: &'static str,
    pub label: &'static str,
    pub ty: AttrType,
    pub channels: &'static [Channel],
}

const X: &[Channel] = &[Channel::XDm, Channel::XPublic];
const X_AND_INSTAGRAM: &[Channel] = &[
    Channel::XDm,
    Channel::XPublic,
    Channel::InstagramDm,
    Channel::InstagramComment,
];
const INSTAGRAM: &[Channel] = &[Channel::InstagramDm, Channel::InstagramComment];
const MESSENGER: &[Channel] = &[Channel::FacebookMessenger];
const PHONE_CHANNELS: &[Channel] = &[Channel::Whatsapp, Channel::Sms];

/// What each network's APIs actually tell about a sender (X user object, Instagram messaging
/// user profile, Messenger user profile, WhatsApp/SMS sender number, email headers, the web
/// chat widget's page context).
pub const CATALOGUE: &[PlatformAttribute] = &[
    PlatformAttribute {
        key: "followers",
        label: "Followers",
        ty: AttrType::Text,
        channels: X_AND_INSTAGRAM,
    },
    PlatformAttribute {
        key: "following",
        label: "Following",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "bio",
        label: "Bio",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "location",
        label: "Location",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "website",
        label: "Website",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "verified",
        label: "Verified",
        ty: AttrType::Boolean,
        channels: X_AND_INSTAGRAM,
    },
    PlatformAttribute {
        key: "account_created_at",
        label: "Account created",
        ty: AttrType::Text,
        channels: X,
    },
    PlatformAttribute {
        key: "follows_business",
        label: "Follows your account",
        ty: AttrType::Boolean,
        channels: INSTAGRAM,
    },
    PlatformAttribute {
        key: "locale",
        label: "Locale",
        ty: AttrType::Text,
        channels: MESSENGER,
    },
    PlatformAttribute {
        key: "timezone",
        label: "Time zone",
        ty: AttrType::Text,
        channels: MESSENGER,
    },
    PlatformAttribute {
        key: "phone",
        label: "Phone",
        ty: AttrType::Text,
        channels: PHONE_CHANNELS,
    },
    PlatformAttribute {
        key: "email_address",
        label: "Email address",
        ty: AttrType::Text,
        channels: &[Channel::Email],
    },
    PlatformAttribute {
        key: "browser",
        label: "Browser",
        ty: AttrType::Text,
        channels: &[Channel::Webchat],
    },
    PlatformAttribute {
        key: "page_url",
        label: "Page",
        ty: AttrType::Text,
        channels: &[Channel::Webchat],
    },
];

pub fn platform_attribute(key: &str) -> Option<&'static PlatformAttribute> {
    CATALOGUE.iter().find(|p| p.key == key)
}
