//! The clients that talk to the targets a wave runs against: Microsoft Graph for the joint
//! tenant ([`graph`], logging in with [`assertion`] when the app uses a certificate) and LDAP
//! for the shared AD ([`ldap`]).
//!
//! They carry requests, not decisions: what to send comes from [`crate::render`]'s pure
//! renderings, and whether to send it from the executor's journal and its comparison with
//! what the target holds. What they own is the wire: TLS, login, pacing, retries of what is
//! safe to retry, and errors that say what the server meant without ever showing a secret.

pub mod assertion;
pub mod graph;
pub mod ldap;
