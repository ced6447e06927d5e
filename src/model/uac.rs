//! `userAccountControl`: the bit field that says whether an account is enabled, a normal user,
//! a computer, whether its password expires... Later stages ask questions ("is it disabled?"),
//! never test bits by number, so the numbers live only here.

use serde::{Deserialize, Serialize};

/// The value of `userAccountControl`, with named questions for the bits samla cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserAccountControl(pub u32);

impl UserAccountControl {
    pub const ACCOUNTDISABLE: u32 = 0x0002;
    pub const LOCKOUT: u32 = 0x0010;
    pub const PASSWD_NOTREQD: u32 = 0x0020;
    pub const NORMAL_ACCOUNT: u32 = 0x0200;
    pub const INTERDOMAIN_TRUST_ACCOUNT: u32 = 0x0800;
    pub const WORKSTATION_TRUST_ACCOUNT: u32 = 0x1000;
    pub const SERVER_TRUST_ACCOUNT: u32 = 0x2000;
    pub const DONT_EXPIRE_PASSWORD: u32 = 0x1_0000;
    pub const SMARTCARD_REQUIRED: u32 = 0x4_0000;
    pub const NOT_DELEGATED: u32 = 0x10_0000;
    pub const PASSWORD_EXPIRED: u32 = 0x80_0000;

    const NAMES: [(u32, &'static str); 11] = [
        (Self::ACCOUNTDISABLE, "ACCOUNTDISABLE"),
        (Self::LOCKOUT, "LOCKOUT"),
        (Self::PASSWD_NOTREQD, "PASSWD_NOTREQD"),
        (Self::NORMAL_ACCOUNT, "NORMAL_ACCOUNT"),
        (Self::INTERDOMAIN_TRUST_ACCOUNT, "INTERDOMAIN_TRUST_ACCOUNT"),
        (Self::WORKSTATION_TRUST_ACCOUNT, "WORKSTATION_TRUST_ACCOUNT"),
        (Self::SERVER_TRUST_ACCOUNT, "SERVER_TRUST_ACCOUNT"),
        (Self::DONT_EXPIRE_PASSWORD, "DONT_EXPIRE_PASSWORD"),
        (Self::SMARTCARD_REQUIRED, "SMARTCARD_REQUIRED"),
        (Self::NOT_DELEGATED, "NOT_DELEGATED"),
        (Self::PASSWORD_EXPIRED, "PASSWORD_EXPIRED"),
    ];

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    pub fn is_disabled(self) -> bool {
        self.has(Self::ACCOUNTDISABLE)
    }

    /// A machine or trust account rather than a person's or service's account.
    pub fn is_machine(self) -> bool {
        self.has(Self::WORKSTATION_TRUST_ACCOUNT | Self::SERVER_TRUST_ACCOUNT | Self::INTERDOMAIN_TRUST_ACCOUNT)
    }

    /// The names of the set bits samla knows, for reports.
    pub fn flag_names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(bit, _)| self.has(*bit)).map(|(_, n)| *n).collect()
    }
}

/// `groupType`: scope and security bits of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupType(pub i32);

/// A group's scope as AD defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupScope {
    Global,
    DomainLocal,
    Universal,
    /// Created by the system in the BUILTIN domain (Administrators, Users ...).
    Builtin,
}

impl GroupType {
    const BUILTIN_LOCAL: i32 = 0x1;
    const GLOBAL: i32 = 0x2;
    const DOMAIN_LOCAL: i32 = 0x4;
    const UNIVERSAL: i32 = 0x8;
    const SECURITY: i32 = i32::MIN; // 0x8000_0000

    pub fn is_security(self) -> bool {
        self.0 & Self::SECURITY != 0
    }

    pub fn scope(self) -> Option<GroupScope> {
        match self.0 & 0xF {
            s if s & Self::BUILTIN_LOCAL != 0 => Some(GroupScope::Builtin),
            Self::GLOBAL => Some(GroupScope::Global),
            Self::DOMAIN_LOCAL => Some(GroupScope::DomainLocal),
            Self::UNIVERSAL => Some(GroupScope::Universal),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_values() {
        assert!(!UserAccountControl(512).is_disabled());
        assert!(UserAccountControl(514).is_disabled());
        assert_eq!(
            UserAccountControl(66050).flag_names(),
            ["ACCOUNTDISABLE", "NORMAL_ACCOUNT", "DONT_EXPIRE_PASSWORD"]
        );
        assert!(UserAccountControl(4096).is_machine());
    }

    #[test]
    fn group_types() {
        assert_eq!(GroupType(-2147483646).scope(), Some(GroupScope::Global));
        assert!(GroupType(-2147483646).is_security());
        assert_eq!(GroupType(-2147483644).scope(), Some(GroupScope::DomainLocal));
        assert_eq!(GroupType(-2147483643).scope(), Some(GroupScope::Builtin));
        assert_eq!(GroupType(8).scope(), Some(GroupScope::Universal));
        assert!(!GroupType(2).is_security());
    }
}
