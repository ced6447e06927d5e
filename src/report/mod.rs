//! Reports for people: what was found, and (later) conflicts, plans and rollbacks.
pub mod overview;
