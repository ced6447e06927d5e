//! Reports for people: what was found, what mapping decided, and (later) plans and rollbacks.
pub mod csv_excel;
pub mod error;
pub mod handout;
pub mod html;
pub mod mapping;
pub mod overview;
pub mod plan;
pub mod rollback;
